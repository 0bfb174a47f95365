#!/usr/bin/env bash
# /v1/search latency of two lore binaries side by side on one machine: each ingests SciFact
# (as one Markdown file per abstract) with its own defaults, then serves it, alternately, twice;
# `lore bench-http` (of the second binary) measures 1 and 8 keep-alive clients.
#   bash scripts/ab-latency.sh BEFORE_BIN AFTER_BIN [WORK_DIR]
# e.g. build the older commit in a worktree (`git worktree add ../before c91b52e^` and
# `cargo build --release` there), then pass ../before/target/release/lore and target/release/lore.
set -euo pipefail
cd "$(dirname "$0")/.."
before=$(realpath "$1"); after=$(realpath "$2"); work=${3:-target/ab-latency}
model=${LORE_MODEL_DIR:-$(realpath ../shared/models/all-MiniLM-L6-v2)}
scifact=${LORE_SCIFACT:-$(realpath ../shared/datasets/scifact)}
mkdir -p "$work"; work=$(realpath "$work")
if [ ! -d "$work/docs" ]; then
  python3 - "$scifact/corpus.jsonl" "$work/docs" <<'PY'
import json, os, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    folder = os.path.join(sys.argv[2], d["_id"][:2])
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, d["_id"] + ".md"), "w") as f:
        f.write(f"# {d['title']}\n\n{d['text']}\n")
PY
fi
cd "$work"   # no lore.toml of the checkout applies
for who in before after; do
  exe=$before; [ "$who" = after ] && exe=$after
  [ -f "$work/index-$who/CURRENT" ] || "$exe" ingest "$work/docs" --index "$work/index-$who" --model-dir "$model" --json > "$work/ingest-$who.json"
done
for round in 1 2; do
  for who in before after; do
    exe=$before; [ "$who" = after ] && exe=$after
    port=$((18000 + RANDOM % 1000))
    "$exe" serve --index "$work/index-$who" --model-dir "$model" --addr "127.0.0.1:$port" > "$work/serve-$who.log" 2>&1 &
    pid=$!
    for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.1; done
    echo "round $round: $who"
    "$after" bench-http --url "http://127.0.0.1:$port" --queries "$scifact/queries.jsonl" --concurrency 1,8 --json "$work/$who-$round.json" 2>&1 | tail -n 4
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done
