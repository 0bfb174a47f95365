#!/usr/bin/env bash
# The whole test suite: formatting, lints, then every test (real model, real indexes,
# real servers on 127.0.0.1, a real headless Chromium for the search page).
# Needs `bash scripts/setup.sh` (or `--deps-only`) once before.
set -euo pipefail
cd "$(dirname "$0")/.."
# The browser test of the search page drives Debian's Chromium through chromedriver.
if [ ! -x /usr/bin/chromedriver ] && [ -z "${LORE_CHROMEDRIVER:-}" ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
fi
cargo fmt --all -- --check
cargo clippy --release --locked --all-targets -- -D warnings
cargo test --release --locked -- --test-threads 2
