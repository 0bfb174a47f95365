#!/usr/bin/env python3
"""Cross-check lore's metrics with pytrec_eval (the trec_eval used by BEIR).

    python3 -m pip install pytrec-eval-terrier
    lore bench --dataset ../shared/datasets/scifact --json bench.json --run run.trec --run-mode hybrid
    python3 benches/trec_check.py ../shared/datasets/scifact/qrels/test.tsv run.trec bench.json hybrid

Exits non-zero unless nDCG@10 and Recall@100 agree with lore's to 1e-4.
"""
import json
import sys

import pytrec_eval


def main() -> int:
    qrels_path, run_path, bench_json, mode = sys.argv[1:5]
    qrels: dict[str, dict[str, int]] = {}
    with open(qrels_path) as f:
        next(f)  # header
        for line in f:
            q, d, s = line.rstrip("\n").split("\t")
            qrels.setdefault(q, {})[d] = int(s)
    run: dict[str, dict[str, float]] = {}
    with open(run_path) as f:
        for line in f:
            q, _, d, _, score, _ = line.split()
            run.setdefault(q, {})[d] = float(score)
    # Queries of the split that lore evaluated (the run holds every one, even if empty).
    evaluated = {q: r for q, r in qrels.items() if q in run}
    ev = pytrec_eval.RelevanceEvaluator(evaluated, {"ndcg_cut.10", "recall.100"})
    per_query = ev.evaluate(run)
    n = len(evaluated)
    ndcg = sum(per_query.get(q, {}).get("ndcg_cut_10", 0.0) for q in evaluated) / n
    rec = sum(per_query.get(q, {}).get("recall_100", 0.0) for q in evaluated) / n
    lore = json.load(open(bench_json))["modes"][mode]
    print(f"queries {n}")
    print(f"nDCG@10    pytrec_eval {ndcg:.6f}  lore {lore['ndcg@10']:.6f}  diff {abs(ndcg - lore['ndcg@10']):.2e}")
    print(f"Recall@100 pytrec_eval {rec:.6f}  lore {lore['recall@100']:.6f}  diff {abs(rec - lore['recall@100']):.2e}")
    ok = abs(ndcg - lore["ndcg@10"]) < 1e-4 and abs(rec - lore["recall@100"]) < 1e-4
    print("agree to 1e-4" if ok else "DISAGREE")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
