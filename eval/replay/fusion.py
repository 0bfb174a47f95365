"""Replay lore's fusion offline over the candidate lists `lore bench` wrote.

    lore bench --dataset ../shared/datasets/scifact --split train --reuse-index \
        --index DIR --dump-candidates /tmp/train.jsonl
    python eval/replay/fusion.py /tmp/train.jsonl ../shared/datasets/scifact/qrels/train.tsv

Each line of the dump holds one query's two lists exactly as lore's hybrid search fuses them
(one chunk per document, `search.candidates` deep, the leg's raw score). The first row
printed is lore's own z-score fusion replayed at the default α; it must match the bench's
hybrid nDCG@10 (to rounding), which is what makes the other rows trustworthy. Its standard
error over the queries is printed with it (how far the figure itself could move on another
sample of queries; two variants on the same queries differ with far less noise). The other rows are the fusion
families measured for issue 15 and not kept (ARCHITECTURE.md, "Tried and not kept"): score
transforms before the z-scores, an α per query type, and a learned linear fusion scored by
5-fold cross-validation. Choose on train; a variant worth building is confirmed on test once.

Needs numpy (e.g. benches/compare/.venv/bin/python, which `bash benches/compare/run.sh`
creates).
"""

import argparse
import collections
import json
import math
from statistics import NormalDist

import numpy as np


# `search.alpha`'s default (src/config.rs): the replay of it must equal the bench's hybrid row.
DEFAULT_ALPHA = 0.6


def load(dump_path, qrels_path):
    qrels = collections.defaultdict(dict)
    with open(qrels_path) as f:
        for i, line in enumerate(f):
            parts = line.rstrip("\n").split("\t")
            if i == 0 and not parts[-1].lstrip("-").isdigit():
                continue  # header
            qrels[parts[0]][parts[1]] = int(parts[2])
    queries = []
    with open(dump_path) as f:
        for line in f:
            o = json.loads(line)
            if o["id"] in qrels:
                queries.append(o)
    return queries, qrels


def ndcg10(ranked, rel):
    """lore's nDCG@10 (trec_eval's: linear gain, log2 discount, ideal from the qrels)."""
    dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
    ideal = sorted((r for r in rel.values() if r > 0), reverse=True)[:10]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def zscore(x):
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else x * 0.0


def fuse(q, alpha, norm_dense=zscore, norm_bm25=zscore):
    """lore's convex fusion: each list normalised alone, a document one leg missed gets that
    leg's lowest normalised score (0 at most), ties broken by dense then BM25 rank."""
    dense, bm25 = q["dense"], q["bm25"]
    nd = norm_dense(np.array([s for _, s in dense], dtype=np.float64)) if dense else []
    nb = norm_bm25(np.array([s for _, s in bm25], dtype=np.float64)) if bm25 else []
    md = min(0.0, float(np.min(nd))) if len(nd) else 0.0
    mb = min(0.0, float(np.min(nb))) if len(nb) else 0.0
    inf = 1 << 30
    entries = {}
    for r, ((d, _), v) in enumerate(zip(dense, nd)):
        entries[d] = [v, mb, r, inf]
    for r, ((d, _), v) in enumerate(zip(bm25, nb)):
        e = entries.setdefault(d, [md, 0.0, inf, inf])
        e[1], e[3] = v, r
    return sorted(entries, key=lambda d: (-(alpha * entries[d][0] + (1 - alpha) * entries[d][1]),
                                          entries[d][2], entries[d][3], d))


def mean_ndcg(queries, qrels, rank):
    return sum(ndcg10(rank(q), qrels[q["id"]]) for q in queries) / len(queries)


def transforms():
    nd = NormalDist()

    def rank_normal(x):
        n = len(x)
        return np.array([-nd.inv_cdf((i + 0.5) / n) for i in range(n)])

    def top(k):
        return lambda x: (x - x[:k].mean()) / (x[:k].std() or 1.0)

    def robust(x):
        iqr = np.percentile(x, 75) - np.percentile(x, 25)
        return (x - np.median(x)) / (iqr or 1.0)

    return {
        "log of BM25": (zscore, lambda b: zscore(np.log1p(b))),
        "square root of BM25": (zscore, lambda b: zscore(np.sqrt(b))),
        "atanh of cosine": (lambda d: zscore(np.arctanh(np.clip(d, -0.999, 0.999))), zscore),
        "exp(5 cos) of cosine": (lambda d: zscore(np.exp(5 * d)), zscore),
        "median/IQR instead of mean/sd": (robust, robust),
        "normal scores of ranks": (rank_normal, rank_normal),
        "statistics of the top 50": (top(50), top(50)),
        "statistics of the top 100": (top(100), top(100)),
    }


def query_splits():
    """Ways to cut the queries in two, each half getting its own α."""

    def words(q):
        return len(q["query"].split())

    def agreement(q):
        d = {x for x, _ in q["dense"][:20]}
        return len(d & {x for x, _ in q["bm25"][:20]})

    def entities(q):
        return sum(any(c.isdigit() for c in w) or (w.isupper() and len(w) > 1)
                   for w in q["query"].split())

    def bm25_gap(q):
        z = zscore(np.array([s for _, s in q["bm25"]])) if q["bm25"] else [0, 0]
        return float(z[0] - z[1]) if len(z) > 1 else 0.0

    return {"length in words": words, "legs' top-20 agreement": agreement,
            "entity-like tokens": entities, "gap of BM25's first two z-scores": bm25_gap}


FEATURES = ["dense z", "bm25 z", "cosine", "bm25 / best bm25", "1/(60+dense rank)",
            "1/(60+bm25 rank)", "dense missed", "bm25 missed", "top cosine", "dense z * bm25 z"]
FEATURE_SETS = {"z-scores": [0, 1], "+ reciprocal ranks": [0, 1, 4, 5],
                "+ raw scores": [0, 1, 2, 3], "+ which leg missed": [0, 1, 6, 7],
                "+ product": [0, 1, 9], "all ten": list(range(10))}


def features(q):
    dense, bm25 = q["dense"], q["bm25"]
    d = np.array([s for _, s in dense]) if dense else np.zeros(1)
    b = np.array([s for _, s in bm25]) if bm25 else np.zeros(1)
    dz, bz = zscore(d), zscore(b)
    docs = list(dict.fromkeys([x for x, _ in dense] + [x for x, _ in bm25]))
    ix = {x: i for i, x in enumerate(docs)}
    f = np.zeros((len(docs), len(FEATURES)))
    f[:, 0], f[:, 1], f[:, 2] = min(0, dz.min()), min(0, bz.min()), d.min()
    f[:, 4], f[:, 5] = 1 / (60 + len(dense)), 1 / (60 + len(bm25))
    f[:, 6] = f[:, 7] = 1
    for r, ((x, s), z) in enumerate(zip(dense, dz)):
        i = ix[x]
        f[i, 0], f[i, 2], f[i, 4], f[i, 6] = z, s, 1 / (60 + r), 0
    for r, ((x, s), z) in enumerate(zip(bm25, bz)):
        i = ix[x]
        f[i, 1], f[i, 3], f[i, 5], f[i, 7] = z, s / (b.max() or 1), 1 / (60 + r), 0
    f[:, 8] = d.max()
    f[:, 9] = f[:, 0] * f[:, 1]
    return docs, f


def fit_pairwise(data, cols, iters=400, rate=0.5, l2=1e-3, depth=50):
    """Pairwise logistic regression (RankNet with a linear scorer): relevant documents
    against the non-relevant ones in the top `depth` of today's fusion."""
    pairs = []
    for docs, f, rel in data:
        base = np.argsort(-(0.5 * f[:, 0] + 0.5 * f[:, 1]))[:depth]
        pos = [i for i, x in enumerate(docs) if rel.get(x, 0) > 0]
        neg = [i for i in base if rel.get(docs[i], 0) <= 0]
        pairs += [f[p, cols] - f[n, cols] for p in pos for n in neg]
    x = np.array(pairs)
    scale = np.abs(x).mean(0) + 1e-9
    xs = x / scale
    w = np.zeros(len(cols))
    for _ in range(iters):
        p = 1 / (1 + np.exp(xs @ w))
        w -= rate * (-(xs * p[:, None]).mean(0) + l2 * w)
    return w / scale


def learned(data, cols, w):
    total = 0.0
    for docs, f, rel in data:
        order = np.argsort(-(f[:, cols] @ w), kind="stable")
        total += ndcg10([docs[i] for i in order[:10]], rel)
    return total / len(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dump", help="JSON lines from lore bench --dump-candidates")
    ap.add_argument("qrels", help="the split's qrels TSV")
    ap.add_argument("--alphas", default="0.4,0.5,0.6", help="α values tried per variant")
    ap.add_argument("--skip-learned", action="store_true", help="skip the learned fusion")
    args = ap.parse_args()
    queries, qrels = load(args.dump, args.qrels)
    if not queries:
        raise SystemExit("no query of the dump has qrels in this file")
    alphas = [float(a) for a in args.alphas.split(",")]
    print(f"{len(queries)} queries\n")
    print("| variant | nDCG@10 |\n|---|---:|")

    def row(name, value):
        print(f"| {name} | {value:.4f} |", flush=True)

    per_query = np.array([ndcg10(fuse(q, DEFAULT_ALPHA), qrels[q["id"]]) for q in queries])
    row(f"lore's fusion replayed (z-score, α {DEFAULT_ALPHA}): must match the bench's hybrid",
        per_query.mean())
    print(f"| its standard error over {len(queries)} queries | "
          f"{per_query.std(ddof=1) / np.sqrt(len(queries)):.4f} |")
    row("z-score, α 0.5 (the default before): must match the bench's zscore row",
        mean_ndcg(queries, qrels, lambda q: fuse(q, 0.5)))
    row("dense alone", mean_ndcg(queries, qrels, lambda q: [d for d, _ in q["dense"]]))
    row("BM25 alone", mean_ndcg(queries, qrels, lambda q: [d for d, _ in q["bm25"]]))
    for name, (nd, nb) in transforms().items():
        best = max((mean_ndcg(queries, qrels, lambda q, a=a: fuse(q, a, nd, nb)), a)
                   for a in alphas)
        row(f"{name} (best α {best[1]})", best[0])
    grid = [0.3, 0.4, 0.5, 0.6, 0.7]
    per_alpha = {a: [ndcg10(fuse(q, a), qrels[q["id"]]) for q in queries] for a in grid}
    for name, key in query_splits().items():
        values = [key(q) for q in queries]
        best = (0.0, None)
        for cut in sorted(set(np.percentile(values, [25, 50, 75]))):
            low = [i for i, v in enumerate(values) if v <= cut]
            high = [i for i, v in enumerate(values) if v > cut]
            a_low = max(grid, key=lambda a: sum(per_alpha[a][i] for i in low))
            a_high = max(grid, key=lambda a: sum(per_alpha[a][i] for i in high))
            score = (sum(per_alpha[a_low][i] for i in low)
                     + sum(per_alpha[a_high][i] for i in high)) / len(queries)
            best = max(best, (score, f"≤ {cut:g}: α {a_low}, above: α {a_high}"),
                       key=lambda t: t[0])
        row(f"α per query type, split by {name} (in sample; {best[1]})", best[0])
    if args.skip_learned:
        return
    data = [(*features(q), qrels[q["id"]]) for q in queries]
    folds = np.array_split(np.random.default_rng(0).permutation(len(data)), 5)
    for name, cols in FEATURE_SETS.items():
        total = 0.0
        for k in range(5):
            train = [data[i] for j in range(5) if j != k for i in folds[j]]
            held = [data[i] for i in folds[k]]
            total += learned(held, cols, fit_pairwise(train, cols)) * len(held)
        row(f"learned linear fusion, {name} (5-fold cross-validated)", total / len(data))


if __name__ == "__main__":
    main()
