"""Is the confidence threshold still right on documentation it was not chosen on?

`search.min_confidence_flag` decides when an answer says `"low_confidence": true`. It was
first chosen over SciFact train and five documentation sets; thirteen sets came after it,
and one hit per file (`search.distinct` 1) changed which hits reach the top five. This
script re-chooses it the way `alpha_cv.py` re-chose α: on some sets, scored on the others,
from the threshold curves `lore bench --docs … --unanswerable --json` writes:

    for SET in $(ls eval/docsets); do
      Q=$SET; [ $SET = html-shipped ] && Q=html
      lore bench --docs eval/docsets/$SET --questions eval/questions/$Q.tsv \
        --index /tmp/idx-$SET --reuse-index \
        --unanswerable tests/data/unanswerable.txt --json /tmp/conf/$SET.json
    done
    python3 eval/replay/threshold_cv.py /tmp/conf [--scifact scifact-test.json] \
      [--choose-with scifact-train.json]

Each curve point is a pair of rates: the share of the off-topic queries whose best hit
scores under the threshold ("emptied"), and the share of answerable questions, among those
with an answering file in their top five, whose best such hit scores at or above it
("kept"). The rates are turned back into counts, so sets pool by their sizes.

The rule is the one the first threshold was chosen by: the best sum of the two pooled
rates, ties to the lower threshold. Leave one set out: chosen on seventeen sets, scored on
the eighteenth; the held-out counts are pooled over all eighteen. The off-topic queries are
the same in every set (searched in each set's own index), so only the questions are wholly
unseen. `--scifact` scores the thresholds on a BEIR run too (a different domain, chosen on
nothing of it); `--choose-with` pools a run into every choice without scoring it (the first
threshold was chosen with SciFact train in the pool).

Standard library only.
"""

import argparse
import json
import os
from collections import Counter


def curve(path):
    """{threshold: (emptied, off-topic, kept, answered)} from one bench JSON."""
    with open(path) as f:
        c = json.load(f)["confidence"]
    a, u = c["answered_in_top5"], c["unanswerable_queries"]
    return {
        round(p["threshold"], 3): (
            round(p["unanswerable_empty"] * u),
            u,
            round(p["answerable_kept"] * a),
            a,
        )
        for p in c["curve"]
    }


def pooled(curves, sets, t):
    e, u, k, a = (sum(curves[s][t][i] for s in sets) for i in range(4))
    return e, u, k, a


def score(counts):
    e, u, k, a = counts
    return e / u + k / a


def choose(curves, sets, thresholds):
    """Best sum of the pooled rates; `max` keeps the first best, i.e. the lowest threshold."""
    return max(thresholds, key=lambda t: score(pooled(curves, sets, t)))


def fmt(counts):
    e, u, k, a = counts
    return f"emptied {100 * e / u:5.1f}% ({e} of {u}), kept {100 * k / a:5.1f}% ({k} of {a})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", help="bench JSON files, one per set (SET.json)")
    ap.add_argument("--scifact", help="a `lore bench --dataset … --unanswerable --json` file")
    ap.add_argument(
        "--choose-with",
        action="append",
        default=[],
        help="another bench JSON pooled into every choice but never scored (e.g. SciFact train)",
    )
    ap.add_argument("--default", type=float, default=0.014, help="the shipped threshold")
    args = ap.parse_args()

    curves = {
        name[: -len(".json")]: curve(os.path.join(args.folder, name))
        for name in sorted(os.listdir(args.folder))
        if name.endswith(".json")
    }
    sets = sorted(curves)
    extra = [f"+{i}" for i in range(len(args.choose_with))]
    for name, path in zip(extra, args.choose_with):
        curves[name] = curve(path)
    # The fine part of the curve (0.001 steps up to 0.049) is where a threshold can live.
    thresholds = sorted(t for t in curves[sets[0]] if t < 0.05)

    print(f"{len(sets)} sets: {' '.join(sets)}\n")
    if extra:
        print(f"Every choice also pools: {' '.join(args.choose_with)}\n")
    best = choose(curves, sets + extra, thresholds)
    print("In sample (all sets, the rule applied to the data it is scored on):")
    print(f"  default {args.default}: {fmt(pooled(curves, sets, args.default))}")
    print(f"  best    {best}: {fmt(pooled(curves, sets, best))}\n")

    picks = {s: choose(curves, [o for o in sets if o != s] + extra, thresholds) for s in sets}
    held = [0, 0, 0, 0]
    below = []
    for s in sets:
        c = curves[s][picks[s]]
        held = [h + x for h, x in zip(held, c)]
        if c[2] / c[3] < 0.95 or c[0] / c[1] < 0.90:
            below.append(f"{s} at {picks[s]} ({fmt(c)})")
    print("Leave one set out (threshold chosen on the other sets, scored on the one left out):")
    for t, n in sorted(Counter(picks.values()).items()):
        print(f"  picked {t}: {n} of {len(sets)} sets")
    print(f"  held-out, pooled: {fmt(held)}")
    print(f"  the default on the same sets: {fmt(pooled(curves, sets, args.default))}")
    print(f"  sets missing a rate (95% kept, 90% emptied) at their held-out pick: {len(below)}")
    for b in below:
        print(f"    {b}")

    if args.scifact:
        sci = curve(args.scifact)
        print("\nBEIR run (no part of the choice):")
        for t in sorted({args.default, best, *picks.values()}):
            print(f"  {t}: {fmt(sci[t])}")


if __name__ == "__main__":
    main()
