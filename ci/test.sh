#!/usr/bin/env bash
# The project's test gate: formatting, clippy with -D warnings, and every test (the
# cross-check against real greenlet included; ci/venv.sh installs greenlet into .venv),
# Valgrind, and the ClusterFuzzLite build with a short run of every fuzzer.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
echo "== actionlint: .github/workflows"
bash ci/actionlint.sh
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --release -- -D warnings
echo "== venv with greenlet"
bash ci/venv.sh >/dev/null
echo "== the Boost.Context shim (include/switchyard.h's example backend library)"
bash ci/boost.sh >/dev/null
echo "== cargo test"
cargo test --workspace --release
echo "== mutants: the differential check and switchyard fuzz find every deliberately broken backend"
cargo test --release --features mutants --test mutants --test fuzz_finds_mutants
echo "== a finding's replay command reproduces it (on a mutant)"
cargo test --release --features mutants --test campaign replay_
echo "== valgrind: corpus and seeded random programs on every native backend"
bash ci/valgrind.sh
echo "== ClusterFuzzLite: .clusterfuzzlite/build.sh, then every fuzzer on its seed corpus"
bash ci/clusterfuzzlite.sh
