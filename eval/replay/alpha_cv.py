"""Is the fusion weight chosen on the documentation sets still right on questions it did not see?

`search.alpha` was chosen on the eighteen documentation sets themselves (README, "Fusion
leans on the embedding"), which have no held-out half. This script asks how much of that
choice survives cross-validation, from the per-question ranks `lore bench --json` writes:

    for A in 0.4 0.45 0.5 0.55 0.6 0.65 0.7 0.75 0.8; do
      for SET in $(ls eval/docsets); do
        Q=$SET; [ $SET = html-shipped ] && Q=html
        lore bench --docs eval/docsets/$SET --questions eval/questions/$Q.tsv \
          --index /tmp/idx-$SET --reuse-index --alpha $A --json /tmp/alpha/a$A-$SET.json
      done
    done
    python3 eval/replay/alpha_cv.py /tmp/alpha

(each set's index built once by the first run; the rest replay in a second or two a set).

Two estimates, both choosing α the way the README did (pooled success@5 first, then
success@1, ties to the lower α) on one part and scoring it on the other:
- leave one set out: α chosen on seventeen sets, scored on the eighteenth, as a new user's
  docs folder would meet it;
- random halves: each set's questions split in two, α chosen on one half of every set and
  scored on the other halves, 2,000 times, against the old default 0.5 on the same halves.

Standard library only.
"""

import argparse
import json
import os
import random
import re
import statistics as st

METRICS = ("success@1", "success@5", "mrr@10")
BASELINE = "0.5"


def load(folder):
    """{(set, alpha): [file rank per question]}; a miss beyond the list counts as rank ∞."""
    runs = {}
    for name in os.listdir(folder):
        m = re.fullmatch(r"a([0-9.]+)-(.+)\.json", name)
        if not m:
            continue
        with open(os.path.join(folder, name)) as f:
            questions = json.load(f)["modes"]["hybrid"]["questions"]
        runs[m.group(2), m.group(1)] = [q["file_rank"] or float("inf") for q in questions]
    sets = sorted({s for s, _ in runs})
    alphas = sorted({a for _, a in runs}, key=float)
    alphas = [a for a in alphas if all((s, a) in runs for s in sets)]
    return runs, sets, alphas


def metric(ranks, name):
    if name == "success@1":
        hits = [r == 1 for r in ranks]
    elif name == "success@5":
        hits = [r <= 5 for r in ranks]
    else:
        hits = [1 / r if r <= 10 else 0.0 for r in ranks]
    return sum(hits) / len(hits)


def pooled(runs, alpha, picks, name):
    """Mean over sets of the per-set figure (the README's pooled figures)."""
    return st.mean(metric([runs[s, alpha][i] for i in idx], name) for s, idx in picks.items())


def choose(runs, alphas, picks):
    return max(alphas, key=lambda a: (round(pooled(runs, a, picks, "success@5"), 9),
                                      round(pooled(runs, a, picks, "success@1"), 9),
                                      -float(a)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", help="folder of aALPHA-SET.json files from `lore bench --json`")
    ap.add_argument("--splits", type=int, default=2000)
    args = ap.parse_args()
    runs, sets, alphas = load(args.folder)
    if BASELINE not in alphas:
        raise SystemExit(f"need α {BASELINE} for every set as the baseline")
    every = {s: range(len(runs[s, alphas[0]])) for s in sets}

    print(f"{len(sets)} sets, α {', '.join(alphas)}\n")
    print("| α | " + " | ".join(METRICS) + " |\n|---:|" + "---:|" * len(METRICS))
    for a in alphas:
        print(f"| {a} | " + " | ".join(f"{pooled(runs, a, every, m):.3f}" for m in METRICS) + " |")

    chosen, held = [], {m: [] for m in METRICS}
    for s in sets:
        a = choose(runs, alphas, {o: every[o] for o in sets if o != s})
        chosen.append(a)
        for m in METRICS:
            held[m].append(metric(runs[s, a], m))
    base = {m: st.mean(metric(runs[s, BASELINE], m) for s in sets) for m in METRICS}
    print("\nLeave one set out: α chosen " + ", ".join(
        f"{a} ×{chosen.count(a)}" for a in alphas if chosen.count(a)))
    print("| | " + " | ".join(METRICS) + " |\n|---|" + "---:|" * len(METRICS))
    print("| held-out set, α chosen on the others | "
          + " | ".join(f"{st.mean(held[m]):.3f}" for m in METRICS) + " |")
    print(f"| α {BASELINE} | " + " | ".join(f"{base[m]:.3f}" for m in METRICS) + " |")

    rng = random.Random(1)
    picked = {a: 0 for a in alphas}
    gains = {m: [] for m in METRICS}
    for _ in range(args.splits):
        train, test = {}, {}
        for s in sets:
            idx = list(every[s])
            rng.shuffle(idx)
            train[s], test[s] = idx[: len(idx) // 2], idx[len(idx) // 2:]
        a = choose(runs, alphas, train)
        picked[a] += 1
        for m in METRICS:
            gains[m].append(pooled(runs, a, test, m) - pooled(runs, BASELINE, test, m))
    print(f"\nRandom halves ({args.splits}): α chosen " + ", ".join(
        f"{a} ×{n}" for a, n in picked.items() if n))
    print(f"| | mean gain over α {BASELINE} on the other half | share of splits with no gain |"
          "\n|---|---:|---:|")
    for m in METRICS:
        g = gains[m]
        print(f"| {m} | {100 * st.mean(g):+.2f} points | {sum(x <= 0 for x in g) / len(g):.1%} |")


if __name__ == "__main__":
    main()
