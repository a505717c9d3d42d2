#!/usr/bin/env bash
# The project's test gate: formatting, clippy with -D warnings, and every test (the
# cross-check against real greenlet included; ci/venv.sh installs greenlet into .venv),
# the out-of-tree example (examples/custom-backend), Valgrind, the ClusterFuzzLite build (with
# ASan) with a short run of every fuzzer, 60 s of ASan fuzzing on every backend, and ASan on
# seeded programs (clean) and on the ASan mutant (reported), all on that one ASan build.
# SWITCHYARD_CI_ASAN_CAMPAIGN=1 adds `switchyard fuzz` built with ASan (ci/asan.sh, its own
# build).
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
echo "== examples/custom-backend: an out-of-tree switcher (fmt, clippy, conformance, its own CLI, its broken variant found)"
# Its own workspace; switchyard's target directory, so the dependencies from crates.io are
# built once.
example=(--manifest-path examples/custom-backend/Cargo.toml)
example_target="${CARGO_TARGET_DIR:-$PWD/target}"
cargo fmt "${example[@]}" -- --check
CARGO_TARGET_DIR="$example_target" cargo clippy "${example[@]}" --all-targets --release -- -D warnings
CARGO_TARGET_DIR="$example_target" cargo test "${example[@]}" --release
CARGO_TARGET_DIR="$example_target" cargo test "${example[@]}" --release --features broken --test broken
echo "== valgrind: corpus and seeded random programs on every native backend"
bash ci/valgrind.sh
# AddressSanitizer: one ASan build (cargo-fuzz's, fuzz/target, feature `mutants`) serves
# ClusterFuzzLite's fuzzers, the 60 s differential run and the seeded programs with the mutant.
echo "== ClusterFuzzLite: .clusterfuzzlite/build.sh (ASan, + mutants), then every fuzzer on its seed corpus"
SWITCHYARD_FUZZ_FEATURES=mutants bash ci/clusterfuzzlite.sh
echo "== cargo fuzz run differential under ASan, every real backend (reuses that build), 60 s"
bash ci/fuzz.sh --mutants differential 60
echo "== ASan: seeded programs on every real backend clean, mutant-asan-redzone reported (same build)"
bash ci/asan.sh --fuzzer
if [ "${SWITCHYARD_CI_ASAN_CAMPAIGN:-0}" = 1 ]; then
    echo "== ASan: switchyard fuzz built with ASan (its own build, target/asan)"
    bash ci/asan.sh
fi
echo "== examples/custom-backend/fuzz: its cargo-fuzz target builds and runs the corpus"
# fuzz/target, as ClusterFuzzLite's build just left it, for the shared dependencies.
(cd examples/custom-backend && unset CARGO_TARGET_DIR &&
  cargo fuzz build -O --debug-assertions -s none --target-dir ../../fuzz/target tiny)
fuzz/target/x86_64-unknown-linux-gnu/release/tiny -runs=0 corpus
