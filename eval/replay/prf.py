"""Replay pseudo-relevance feedback for BM25 seeded by the *dense* leg (issue 15's "dense
query expansion" lever, the variant RM3 did not cover): the terms that characterise the top
dense (or hybrid) hits are added to the BM25 query, and the expanded BM25 list is fused with
lore's dense list exactly as lore fuses (z-score, α from `--alpha`, lore's default 0.6).

    lore bench --dataset ../shared/datasets/scifact --split train --reuse-index \
        --index DIR --dump-candidates /tmp/train.jsonl
    python -B eval/replay/prf.py /tmp/train.jsonl ../shared/datasets/scifact

The dense lists come from lore's dump; BM25 is bm25s over whole documents (title + text,
English Snowball stemmer and stop words, k1 1.2, b 0.75), because expanding a query needs
per-term scores over the whole collection. So the comparison that matters is bm25s with
feedback against bm25s without it, both fused with the same dense list; lore's own fusion of
the dump is printed beside them as the anchor. Choose on train; confirm on test once.

Needs numpy, bm25s and PyStemmer (pip install --target DIR numpy bm25s PyStemmer, then
PYTHONPATH=DIR).
"""

import argparse
import collections
import itertools
import json
import math
import os
import sys

import bm25s
import numpy as np
import Stemmer

sys.path.insert(0, os.path.dirname(__file__))
from fusion import DEFAULT_ALPHA, fuse, load, ndcg10  # noqa: E402

DEPTH = 300  # `search.candidates`


def corpus(folder):
    ids, texts = [], []
    with open(os.path.join(folder, "corpus.jsonl")) as f:
        for line in f:
            o = json.loads(line)
            ids.append(o["_id"])
            texts.append((o.get("title", "") + " " + o.get("text", "")).strip())
    return ids, texts


def top(scores, ids, k=DEPTH):
    order = np.argsort(-scores, kind="stable")[:k]
    return [(ids[i], float(scores[i])) for i in order if scores[i] > 0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dump", help="JSON lines from lore bench --dump-candidates")
    ap.add_argument("beir", help="the BEIR folder (corpus.jsonl, qrels/)")
    ap.add_argument("--split", default="train")
    ap.add_argument("--only", help="one setting, e.g. dense,5,10,0.5 (source,docs,terms,β)")
    ap.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, help="dense weight")
    args = ap.parse_args()
    queries, qrels = load(args.dump, os.path.join(args.beir, "qrels", args.split + ".tsv"))
    ids, texts = corpus(args.beir)
    ix = {d: i for i, d in enumerate(ids)}
    stemmer = Stemmer.Stemmer("english")
    tok = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False)
    vocab_inv = {v: k for k, v in tok.vocab.items()}
    doc_terms = [collections.Counter(vocab_inv[t] for t in d) for d in tok.ids]
    n = len(ids)
    df = collections.Counter(t for c in doc_terms for t in c)
    idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
    retriever = bm25s.BM25(k1=1.2, b=0.75)
    retriever.index(tok, show_progress=False)
    term_cache = {}

    def term_scores(t):
        if t not in term_cache:
            term_cache[t] = retriever.get_scores([t]) if t in tok.vocab else np.zeros(n)
        return term_cache[t]

    def qterms(q):
        return bm25s.tokenize(q, stopwords="en", stemmer=stemmer, return_ids=False,
                              show_progress=False)[0]

    def mean(rank):
        return sum(ndcg10(rank(q), qrels[q["id"]]) for q in queries) / len(queries)

    base = {}
    for q in queries:
        terms = qterms(q["query"])
        base[q["id"]] = (terms, sum((term_scores(t) for t in terms), np.zeros(n)))
    alpha = args.alpha
    print(f"{len(queries)} queries, α {alpha}")
    print(f"lore (dump) hybrid            {mean(lambda q: fuse(q, alpha)[:10]):.4f}")
    print(f"bm25s alone                   "
          f"{mean(lambda q: [d for d, _ in top(base[q['id']][1], ids, 10)]):.4f}")

    def with_bm25(q, scores):
        return fuse({**q, "bm25": top(scores, ids)}, alpha)[:10]

    print(f"bm25s + lore dense (hybrid)   "
          f"{mean(lambda q: with_bm25(q, base[q['id']][1])):.4f}")

    def expanded(q, source, m, e, beta):
        terms, scores = base[q["id"]]
        seeds = ([d for d, _ in q["dense"][:m]] if source == "dense"
                 else with_bm25(q, scores)[:m])
        weight = collections.Counter()
        for d in seeds:
            c = doc_terms[ix[d]]
            length = sum(c.values()) or 1
            for t, tf in c.items():
                weight[t] += tf / length * idf[t] / len(seeds)
        own = set(terms)
        picked = [(t, w) for t, w in weight.most_common() if t not in own][:e]
        total = sum(w for _, w in picked) or 1.0
        extra = sum((w / total * term_scores(t) for t, w in picked), np.zeros(n))
        # The feedback terms together weigh β times the query's own clauses.
        return scores + beta * len(terms) * extra

    grid = ([tuple(args.only.split(","))] if args.only else
            itertools.product(["dense", "hybrid"], [3, 5, 10], [5, 10, 20],
                              [0.1, 0.25, 0.5, 1.0]))
    for source, m, e, beta in grid:
        m, e, beta = int(m), int(e), float(beta)
        scores = {q["id"]: expanded(q, source, m, e, beta) for q in queries}
        b_alone = mean(lambda q: [d for d, _ in top(scores[q["id"]], ids, 10)])
        hyb = mean(lambda q: with_bm25(q, scores[q["id"]]))
        print(f"{source:6} docs {m:2} terms {e:2} β {beta:4}: bm25 {b_alone:.4f} "
              f"hybrid {hyb:.4f}", flush=True)


if __name__ == "__main__":
    main()
