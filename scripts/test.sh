#!/usr/bin/env bash
# The whole test suite: formatting, lints, then every test (real model, real indexes,
# real servers on 127.0.0.1). Run `bash scripts/setup.sh --deps-only` once before.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --release --locked --all-targets -- -D warnings
cargo test --release --locked -- --test-threads 2
