#!/usr/bin/env bash
# Coverage-guided fuzzing of the greenlet backends against the thread oracle (cargo-fuzz,
# libFuzzer). Installs cargo-fuzz if it is missing, refreshes the seed corpus from corpus/*.gp
# (ci/fuzz-seeds.sh), and runs one target for a while.
#
#   ci/fuzz.sh [--asan] [TARGET] [SECONDS] [-- LIBFUZZER_ARGS...]
#
# TARGET: differential (default; every backend vs the oracle), stack_copy, mmap or ucontext
# (that backend vs the oracle). SECONDS: total run time, default 60.
#
# Sanitizers: by default the build uses `-s none` (no sanitizer, only libFuzzer's coverage
# instrumentation), which works on the stable toolchain. `--asan` builds with `-s address`
# on the nightly toolchain and is only honoured when `rustup` has a nightly installed.
# AddressSanitizer does not know about greenlet stack switches (the backends make no
# __sanitizer_start_switch_fiber / __sanitizer_finish_switch_fiber calls yet), so expect
# false reports from it on the native backends; see fuzz/README.md.
#
# A crash is saved under fuzz/artifacts/TARGET/. To read it as a program:
#   cargo run --release -- artifact fuzz/artifacts/TARGET/crash-...
# (switchyard::gen::bytes::artifact_to_program_text), or, since program text is a valid fuzz
# input, rerun it with: cargo fuzz run -s none TARGET FILE
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

asan=0
positional=()
while [ $# -gt 0 ]; do
    case "$1" in
        --asan) asan=1; shift ;;
        --) shift; break ;;
        *) positional+=("$1"); shift ;;
    esac
done
target="${positional[0]:-differential}"
seconds="${positional[1]:-60}"

if [ ! -f "fuzz/fuzz_targets/$target.rs" ]; then
    echo "fuzz.sh: no fuzz target '$target' (have: $(ls fuzz/fuzz_targets | sed 's/\.rs$//' | tr '\n' ' '))" >&2
    exit 2
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== cargo install cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

echo "== seed corpus"
bash ci/fuzz-seeds.sh "$target"

toolchain=()
sanitizer=(-s none)
if [ "$asan" = 1 ]; then
    if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
        toolchain=(+nightly)
        sanitizer=(-s address)
    else
        echo "fuzz.sh: --asan needs a nightly toolchain (rustup toolchain install nightly); running without a sanitizer" >&2
    fi
fi

# cargo-fuzz keeps its own target directory under fuzz/ (the fuzz crate is its own workspace).
unset CARGO_TARGET_DIR
echo "== cargo ${toolchain[*]} fuzz run ${sanitizer[*]} $target (${seconds}s)"
exec cargo "${toolchain[@]}" fuzz run "${sanitizer[@]}" "$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 "$@"
