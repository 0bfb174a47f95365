#!/usr/bin/env bash
# Side-by-side comparison of lore with the Python stack on the same machine, same data:
#   bash benches/compare/run.sh [--docs N] [--skip-ingest]
# Needs ../shared (SciFact and the model) beside the checkout and the README's set-up done.
# Prints one table of ratios and writes target/compare/{report.json,report.md}.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=benches/compare/.venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r benches/compare/requirements.txt
fi
cargo build --release --locked --quiet
exec "$venv/bin/python" benches/compare/compare.py "$@"
