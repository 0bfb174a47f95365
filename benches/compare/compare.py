#!/usr/bin/env python3
"""lore against the Python stack, side by side, on one machine and the same data.

Run through `bash benches/compare/run.sh` (it sets up the pinned virtualenv). Every target
of the performance issue is a ratio measured here in one run, because this machine type's
CPU changes between sessions:

* ingest: lore's end-to-end real tokens/s (read, chunk, embed, BM25 + HNSW, persist) on
  SciFact as a folder of Markdown files, against Python onnxruntime embedding the same
  documents (batch 32, corpus order, max 256 tokens, mean pooling): fp32 vs fp32, int8 vs
  int8, and lore int8 vs Python fp32;
* HNSW: recall@10 against exact search and single-thread queries/s, lore (`lore bench-ann`)
  against hnswlib with the same M and ef_construction on the same vectors (SciFact and a
  100,000 x 384 clustered set), plus build seconds with 2 threads;
* HTTP: `/v1/search` hybrid p50/p95/p99 and queries/s at 1 and 8 keep-alive clients, distinct
  SciFact test queries, query embedding included; the server's peak RSS.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import hnswlib
import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parents[2]
LORE = ROOT / "target" / "release" / "lore"
OUT = ROOT / "target" / "compare"
SCIFACT = Path(os.environ.get("LORE_SCIFACT", ROOT.parent / "shared" / "datasets" / "scifact"))
MODEL = Path(os.environ.get("LORE_MODEL_DIR", ROOT.parent / "shared" / "models" / "all-MiniLM-L6-v2"))
THREADS = 2


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_corpus(limit: int):
    docs = []
    with open(SCIFACT / "corpus.jsonl") as f:
        for line in f:
            d = json.loads(line)
            docs.append((d["_id"], d.get("title", ""), d["text"]))
            if limit and len(docs) >= limit:
                break
    return docs


def write_markdown_folder(docs, folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    for i, t, x in docs:
        (folder / f"{i}.md").write_text(f"# {t}\n\n{x}\n" if t else f"{x}\n")


class PyEmbedder:
    """What a Python service does: tokenizers + onnxruntime, mean pooling, L2 norm."""

    def __init__(self, onnx: Path):
        self.tok = Tokenizer.from_file(str(MODEL / "tokenizer.json"))
        self.tok.enable_truncation(256)
        self.tok.enable_padding()  # pad to the longest text of the batch
        so = ort.SessionOptions()
        so.intra_op_num_threads = THREADS
        so.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(str(onnx), so, providers=["CPUExecutionProvider"])

    def embed(self, texts):
        enc = self.tok.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        out = self.sess.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
        m = mask[..., None].astype(np.float32)
        v = (out * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        return v, int(mask.sum())


def python_embedding(docs, onnx: Path):
    e = PyEmbedder(onnx)
    texts = [f"{t} {x}".strip() for _, t, x in docs]
    e.embed(texts[:32])  # warm-up
    tokens = 0
    t0 = time.perf_counter()
    for i in range(0, len(texts), 32):
        _, n = e.embed(texts[i : i + 32])
        tokens += n
    secs = time.perf_counter() - t0
    return {"documents": len(texts), "tokens": tokens, "seconds": secs, "tokens_per_s": tokens / secs}


def lore(*args, **kw):
    return subprocess.run([str(LORE), *map(str, args)], check=True, capture_output=True, text=True, **kw)


def lore_ingest(folder: Path, index: Path, quantized: bool):
    args = ["ingest", folder, "--index", index, "--rebuild", "--json", "--model-dir", MODEL]
    if quantized:
        args.append("--quantized")
    r = json.loads(lore(*args).stdout)
    r["tokens_per_s"] = r["tokens_embedded"] / r["seconds"]
    return r


def current_generation(index: Path) -> Path:
    return index / json.loads((index / "CURRENT").read_text())["dir"]


def exact_top(base, queries, k):
    sims = queries @ base.T
    return np.argsort(-sims, axis=1)[:, :k]


def hnswlib_sweep(base, queries, truth, efs, m=16, efc=200):
    p = hnswlib.Index(space="ip", dim=base.shape[1])
    p.init_index(max_elements=len(base), M=m, ef_construction=efc, random_seed=100)
    p.set_num_threads(THREADS)
    t0 = time.perf_counter()
    p.add_items(base, np.arange(len(base)))
    build = time.perf_counter() - t0
    p.set_num_threads(1)
    sweep = []
    for ef in efs:
        p.set_ef(ef)
        found = 0
        lat = []
        for q, t in zip(queries, truth):
            t1 = time.perf_counter()
            labels, _ = p.knn_query(q[None, :], k=10)
            lat.append(time.perf_counter() - t1)
            found += len(set(labels[0].tolist()) & set(t.tolist()))
        sweep.append({"ef": ef, "recall@10": found / truth.size, "qps": len(queries) / sum(lat), "p50_ms": float(np.median(lat) * 1000)})
    return {"build_s": build, "sweep": sweep}


def lore_ann(base_npy, queries_npy, efs, out_json):
    lore("bench-ann", "--base", base_npy, "--queries", queries_npy, "--m", 16, "--ef-construction", 200,
         "--ef", ",".join(map(str, efs)), "--threads", THREADS, "--json", out_json)
    return json.loads(Path(out_json).read_text())


def qps_at_recall(sweep, target):
    ok = [p for p in sweep if p["recall@10"] >= target]
    return max((p["qps"] for p in ok), default=None)


def clustered(n, dim, clusters, seed, latent=24):
    """Unit vectors with the structure of real embeddings: clusters in a low-dimensional
    latent space, projected into `dim` dimensions, plus a little isotropic noise (purely
    random high-dimensional points have no meaningful neighbours)."""
    rng = np.random.default_rng(1234)  # the same projection and centres for base and queries
    proj = rng.normal(size=(latent, dim)).astype(np.float32)
    centres = rng.normal(size=(clusters, latent)).astype(np.float32) * 2.0
    rng = np.random.default_rng(seed)
    z = centres[rng.integers(0, clusters, n)] + rng.normal(size=(n, latent)).astype(np.float32)
    x = z @ proj + 0.5 * rng.normal(size=(n, dim)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def peak_rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def http_bench(index: Path, queries_file: Path, quantized: bool):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    cmd = [str(LORE), "serve", "--index", str(index), "--model-dir", str(MODEL), "--addr", f"127.0.0.1:{port}"]
    if quantized:
        cmd.append("--quantized")
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import urllib.request
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        out = OUT / ("http-int8.json" if quantized else "http.json")
        lore("bench-http", "--url", f"http://127.0.0.1:{port}", "--queries", queries_file, "--concurrency", "1,8", "--json", out)
        loads = json.loads(out.read_text())
        rss = peak_rss_mb(server.pid)
        # Overload: a burst of 200 concurrent clients must get answers or 503s, never
        # failures, and leave the server answering.
        lore("bench-http", "--url", f"http://127.0.0.1:{port}", "--queries", queries_file, "--concurrency", "200", "--requests", "400", "--json", out.with_suffix(".burst.json"))
        burst = json.loads(out.with_suffix(".burst.json").read_text())[0]
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/search", data=json.dumps({"query": "vitamin D and bone density"}).encode(), headers={"content-type": "application/json"})
        burst["search_after_ok"] = json.loads(urllib.request.urlopen(req, timeout=10).read())["results"] != []
        return {"loads": loads, "server_peak_rss_mb": rss, "burst": burst}
    finally:
        server.terminate()
        server.wait(timeout=10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=0, help="use only the first N SciFact documents (0 = all)")
    ap.add_argument("--skip-ingest", action="store_true", help="reuse the indexes of a previous run")
    ap.add_argument("--only", choices=["ingest", "ann", "http"], action="append", help="run only these parts (repeatable; default: all)")
    args = ap.parse_args()
    parts = set(args.only or ["ingest", "ann", "http"])
    OUT.mkdir(parents=True, exist_ok=True)
    report = {"cpu": cpu_model(), "threads": THREADS}
    docs = load_corpus(args.docs)
    folder = OUT / "scifact-md"
    if not folder.exists() or len(list(folder.glob("*.md"))) != len(docs):
        write_markdown_folder(docs, folder)
    idx32, idx8 = OUT / "index-fp32", OUT / "index-int8"

    # 1. Ingest vs Python embedding.
    print(f"CPU: {report['cpu']}; {len(docs)} SciFact documents", flush=True)
    if "ingest" in parts:
        py32 = python_embedding(docs, MODEL / "model.onnx")
        print(f"python fp32: {py32['tokens_per_s']:.0f} tokens/s", flush=True)
        py8 = python_embedding(docs, MODEL / "model_int8.onnx")
        print(f"python int8: {py8['tokens_per_s']:.0f} tokens/s", flush=True)
    if "ingest" not in parts:
        report["ingest"] = {}
    elif not args.skip_ingest:
        l32 = lore_ingest(folder, idx32, False)
        print(f"lore fp32 ingest: {l32['tokens_per_s']:.0f} tokens/s", flush=True)
        l8 = lore_ingest(folder, idx8, True)
        print(f"lore int8 ingest: {l8['tokens_per_s']:.0f} tokens/s", flush=True)
        report["ingest"] = {"python_fp32": py32, "python_int8": py8, "lore_fp32": l32, "lore_int8": l8}
    else:
        report["ingest"] = {"python_fp32": py32, "python_int8": py8}

    # 2. HNSW on identical vectors.
    efs = [10, 20, 40, 80, 160]
    gen = current_generation(idx32)
    base = np.fromfile(gen / "vectors.f32", dtype=np.float32).reshape(-1, 384)
    qtexts = [json.loads(l)["text"] for l in open(SCIFACT / "queries.jsonl")]
    qids = {l.split("\t")[0] for l in list(open(SCIFACT / "qrels" / "test.tsv"))[1:]}
    test_q = [json.loads(l)["text"] for l in open(SCIFACT / "queries.jsonl") if json.loads(l)["_id"] in qids]
    ann = {}
    for name, b, q in [] if "ann" not in parts else [("scifact", base, PyEmbedder(MODEL / "model.onnx").embed(test_q)[0].astype(np.float32)), ("clustered_100k", clustered(100_000, 384, 100, 7), clustered(1000, 384, 100, 8))]:
        np.save(OUT / f"{name}_base.npy", b)
        np.save(OUT / f"{name}_queries.npy", q)
        truth = exact_top(b, q, 10)
        h = hnswlib_sweep(b, q, truth, efs)
        lo = lore_ann(OUT / f"{name}_base.npy", OUT / f"{name}_queries.npy", efs, OUT / f"{name}_lore_ann.json")
        ann[name] = {"hnswlib": h, "lore": lo}
        print(f"ann {name}: lore build {lo['build_s']:.1f}s, hnswlib build {h['build_s']:.1f}s", flush=True)
    report["ann"] = ann

    # 3. HTTP.
    # All SciFact queries (test first), split between the runs so none repeats.
    qfile = OUT / "http_queries.txt"
    qfile.write_text("\n".join(test_q + [q for q in qtexts if q not in set(test_q)]) + "\n")
    if "http" in parts:
        report["http"] = http_bench(idx32, qfile, False)
        report["http_int8"] = http_bench(idx8, qfile, True)

    # Ratios.
    rows = []
    ing = report["ingest"]
    if "lore_fp32" in ing:
        rows.append(("ingest fp32: lore end-to-end / python embed-only tokens/s", ing["lore_fp32"]["tokens_per_s"] / py32["tokens_per_s"], ">= 1.0"))
        rows.append(("ingest int8: lore / python int8 tokens/s", ing["lore_int8"]["tokens_per_s"] / py8["tokens_per_s"], ""))
        rows.append(("ingest int8: lore int8 / python fp32 tokens/s", ing["lore_int8"]["tokens_per_s"] / py32["tokens_per_s"], ">= 1.4"))
    for name, a in ann.items():
        for target in (0.99,):
            lq, hq = qps_at_recall(a["lore"]["sweep"], target), qps_at_recall(a["hnswlib"]["sweep"], target)
            rows.append((f"hnsw {name}: lore / hnswlib queries/s at recall@10 >= {target}", (lq / hq) if lq and hq else float("nan"), ">= 0.8"))
        rows.append((f"hnsw {name}: lore / hnswlib build seconds (2 threads)", a["lore"]["build_s"] / a["hnswlib"]["build_s"], "<= 1.25"))
    for key, label in (("http", "fp32"), ("http_int8", "int8")) if "http" in parts else ():
        h = report[key]
        loads = {l["concurrency"]: l for l in h["loads"]}
        one, eight = loads.get(1), loads.get(8)
        if one and eight:
            rows.append((f"http hybrid p50 ms, 1 client ({label})", one["p50_ms"], "<= 5"))
            rows.append((f"http hybrid p99 ms, 8 clients ({label})", eight["p99_ms"], "<= 30"))
            rows.append((f"http throughput 8 clients / 1 client ({label})", eight["qps"] / one["qps"], ">= 1.5"))
        rows.append((f"lore serve peak RSS MB, SciFact index ({label})", h["server_peak_rss_mb"], "<= 300"))
        b = h["burst"]
        rows.append((f"burst of 200 clients ({label}): failed answers (ok {b['ok']}, 503 {b['overloaded']}; search after: {'ok' if b['search_after_ok'] else 'FAILED'})", b["failed"], "0"))
    if "lore_fp32" in ing:
        rows.append(("index bytes per chunk on disk", sum(f.stat().st_size for f in gen.rglob("*") if f.is_file()) / ing["lore_fp32"]["chunks"], ""))
        if "http" in report:
            rows.append(("serve RSS bytes per chunk", report["http"]["server_peak_rss_mb"] * 1048576 / ing["lore_fp32"]["chunks"], ""))
    report["ratios"] = [{"what": w, "value": v, "target": t} for w, v, t in rows]
    md = [f"CPU: {report['cpu']} ({THREADS} threads)", "", "| measure | value | target |", "|---|---:|---|"]
    md += [f"| {w} | {v:.3f} | {t} |" for w, v, t in rows]
    md += ["", "ANN sweeps (recall@10 / queries/s, one thread):", ""]
    for name, a in ann.items():
        md.append(f"| {name} ef | " + " | ".join(str(p["ef"]) for p in a["lore"]["sweep"]) + " |")
        md.append("|---|" + "---:|" * len(a["lore"]["sweep"]))
        md.append("| lore | " + " | ".join(f"{p['recall@10']:.4f} / {p['qps']:.0f}" for p in a["lore"]["sweep"]) + " |")
        md.append("| hnswlib | " + " | ".join(f"{p['recall@10']:.4f} / {p['qps']:.0f}" for p in a["hnswlib"]["sweep"]) + " |")
        md.append("")
    md.append("HTTP /v1/search (hybrid, distinct queries):")
    md.append("")
    md.append("| model | clients | queries/s | p50 ms | p95 ms | p99 ms | 503 | failed |")
    md.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for key, label in (("http", "fp32"), ("http_int8", "int8")) if "http" in parts else ():
        for l in report[key]["loads"] + [report[key]["burst"]]:
            md.append(f"| {label} | {l['concurrency']} | {l['qps']:.1f} | {l['p50_ms']:.2f} | {l['p95_ms']:.2f} | {l['p99_ms']:.2f} | {l['overloaded']} | {l['failed']} |")
    text = "\n".join(md)
    print(text)
    (OUT / "report.md").write_text(text + "\n")
    (OUT / "report.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
