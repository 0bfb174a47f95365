#!/usr/bin/env bash
# Sets lore up on a fresh machine: installs the ONNX Runtime shared library (from PyPI) and
# a copy of the embedding model into lore's data folder, builds lore, ingests corpus/ into
# index/, and starts the server.
#
#   bash scripts/setup.sh              # everything, then serve on 127.0.0.1:7878
#   bash scripts/setup.sh --no-serve   # everything but serving; prints how to serve
#   bash scripts/setup.sh --deps-only  # only the runtime and the model (what CI needs)
#
# Environment: LORE_HOME (data folder, default ~/.local/share/lore), LORE_MODEL_DIR (model
# folder to install, default ../shared/models/all-MiniLM-L6-v2).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-serve}
ORT_VERSION=1.31.1
LORE_HOME=${LORE_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/lore}
ort_dir="$LORE_HOME/onnxruntime"
ort_lib="$ort_dir/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION"

if [ ! -f "$ort_lib" ]; then
  echo "installing onnxruntime==$ORT_VERSION (shared library only) into $ort_dir"
  python3 -m pip install --quiet --disable-pip-version-check --no-deps \
    --target "$ort_dir" "onnxruntime==$ORT_VERSION"
fi
[ -f "$ort_lib" ] || { echo "error: $ort_lib missing after install" >&2; exit 1; }

model_src=${LORE_MODEL_DIR:-../shared/models/all-MiniLM-L6-v2}
model_dst="$LORE_HOME/models/$(basename "$model_src")"
if [ ! -f "$model_dst/model.onnx" ] || ! cmp -s "$model_src/model.onnx" "$model_dst/model.onnx"; then
  [ -f "$model_src/model.onnx" ] || {
    echo "error: no model at $model_src (set LORE_MODEL_DIR to a folder with model.onnx and tokenizer.json)" >&2
    exit 1
  }
  echo "installing the model from $model_src into $model_dst"
  mkdir -p "$model_dst"
  cp -r "$model_src"/. "$model_dst"/
  chmod -R u+w "$model_dst"
fi

[ "$mode" = "--deps-only" ] && exit 0

cargo build --release --locked
./target/release/lore ingest corpus --index index

if [ "$mode" = "--no-serve" ]; then
  echo
  echo "ready. Serve with:   ./target/release/lore serve      (http://127.0.0.1:7878)"
  echo "search from the CLI: ./target/release/lore search \"how are dense and BM25 results combined\""
  exit 0
fi
exec ./target/release/lore serve
