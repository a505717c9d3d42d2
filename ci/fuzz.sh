#!/usr/bin/env bash
# Coverage-guided fuzzing with cargo-fuzz (libFuzzer): the backends against the thread oracle,
# or the parser alone. Installs cargo-fuzz if it is missing, refreshes the seed corpus from
# corpus/**/*.gp (ci/fuzz-seeds.sh), and runs one target for a while.
#
#   ci/fuzz.sh [--no-asan] [--mutants] [--fork N | --jobs N] [--corpus DIR] [TARGET] [SECONDS] [-- LIBFUZZER_ARGS...]
#   ci/fuzz.sh --cmin [TARGET]            # minimize fuzz/corpus/TARGET in place (cargo fuzz cmin)
#   ci/fuzz.sh --merge TARGET DIR...      # add to fuzz/corpus/TARGET the inputs of DIR... that
#                                         # bring new coverage (libFuzzer -merge=1)
#
# TARGET: differential (default; every backend vs the oracle), stack_copy, mmap, ucontext (that
# backend vs the oracle) or parse (the parser's round trip, no backend). SECONDS: total run
# time, default 60.
#
# Parallelism is libFuzzer's own: `--fork N` runs N child fuzzers and merges what they find into
# the corpus as they go (the recommended mode); `--jobs N` runs N independent fuzzers (N
# workers) on the same corpus directory, their logs moved afterwards to
# fuzz/artifacts/TARGET/jobs/fuzz-J.log. Either way the corpus is minimized (`cargo fuzz cmin`) after the run; `--no-cmin`
# skips that. `--corpus DIR` fuzzes into DIR (a folder shared between machines, say) instead of
# fuzz/corpus/TARGET, which is then only read, for its seeds.
#
# Sanitizer: AddressSanitizer by default (`-s address`, cargo-fuzz's own default; stable rustc
# builds it with RUSTC_BOOTSTRAP=1, which this script sets). The runtime announces every stack
# switch to ASan and stack-copy keeps each greenlet's shadow bytes with its stack bytes
# (impls/src/asan.rs), so the native backends run clean under it. `--no-asan` builds with
# `-s none` (libFuzzer's coverage instrumentation only): several times faster, no memory
# checks; `--asan` is accepted and is the default. `--mutants` builds with the deliberately
# broken backends (feature `mutants`); pick one with SWITCHYARD_FUZZ_BACKENDS, e.g.
#   SWITCHYARD_FUZZ_BACKENDS=mutant-asan-redzone ci/fuzz.sh --mutants differential 60
#
# A crash is saved under fuzz/artifacts/TARGET/. To read it as a program:
#   cargo run --release -- artifact fuzz/artifacts/TARGET/crash-...
# (switchyard::gen::bytes::artifact_to_program_text), or, since program text is a valid fuzz
# input, rerun it with: RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET FILE
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

mode=run
asan=1
features=()
parallel=()
corpus_dir=""
cmin=1
positional=()
while [ $# -gt 0 ]; do
    case "$1" in
        --asan) asan=1; shift ;;
        --no-asan) asan=0; shift ;;
        --mutants) features=(--features mutants); shift ;;
        --fork|--jobs)
            case "${2:-}" in ''|*[!0-9]*) echo "fuzz.sh: $1 needs a number" >&2; exit 2 ;; esac
            if [ "$1" = --fork ]; then parallel=(-fork="$2"); else parallel=(-jobs="$2" -workers="$2"); fi
            shift 2 ;;
        --corpus) corpus_dir="$2"; shift 2 ;;
        --no-cmin) cmin=0; shift ;;
        --cmin) mode=cmin; shift ;;
        --merge) mode=merge; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        --) shift; break ;;
        -*) echo "fuzz.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
        *) positional+=("$1"); shift ;;
    esac
done
target="${positional[0]:-differential}"

if [ ! -f "fuzz/fuzz_targets/$target.rs" ]; then
    echo "fuzz.sh: no fuzz target '$target' (have: $(ls fuzz/fuzz_targets | sed 's/\.rs$//' | tr '\n' ' '))" >&2
    exit 2
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== cargo install cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

sanitizer=(-s none "${features[@]}")
if [ "$asan" = 1 ]; then
    sanitizer=(-s address "${features[@]}")
    export RUSTC_BOOTSTRAP=1
fi

# cargo-fuzz keeps its own target directory under fuzz/ (the fuzz crate is its own workspace).
unset CARGO_TARGET_DIR
seeds="fuzz/corpus/$target"

case "$mode" in
    cmin)
        echo "== cargo fuzz cmin ${sanitizer[*]} $target"
        exec cargo fuzz cmin "${sanitizer[@]}" "$target" "$seeds"
        ;;
    merge)
        sources=("${positional[@]:1}")
        if [ ${#sources[@]} -eq 0 ]; then
            echo "fuzz.sh: --merge $target needs the corpus directories to merge from" >&2
            exit 2
        fi
        mkdir -p "$seeds"
        before=$(find "$seeds" -type f | wc -l)
        echo "== merge ${sources[*]} into $seeds (-merge=1)"
        cargo fuzz run "${sanitizer[@]}" "$target" "$seeds" "${sources[@]}" -- -merge=1 "$@"
        echo "fuzz.sh: $seeds: $before -> $(find "$seeds" -type f | wc -l) inputs"
        exit 0
        ;;
esac

seconds="${positional[1]:-60}"
echo "== seed corpus"
bash ci/fuzz-seeds.sh "$target"
corpora=("$seeds")
if [ -n "$corpus_dir" ]; then
    mkdir -p "$corpus_dir"
    corpora=("$corpus_dir" "$seeds")
fi

echo "== cargo fuzz run ${sanitizer[*]} $target ${parallel[*]} (${seconds}s) into ${corpora[0]}"
status=0
cargo fuzz run "${sanitizer[@]}" "$target" "${corpora[@]}" -- \
    -dict="$root/fuzz/fuzz.dict" -max_total_time="$seconds" -print_final_stats=1 \
    "${parallel[@]}" "$@" || status=$?
if compgen -G 'fuzz-[0-9]*.log' >/dev/null; then
    mkdir -p "fuzz/artifacts/$target/jobs"
    mv fuzz-[0-9]*.log "fuzz/artifacts/$target/jobs/"
    echo "fuzz.sh: job logs in fuzz/artifacts/$target/jobs/"
fi

if [ ${#parallel[@]} -gt 0 ] && [ "$cmin" = 1 ] && [ "$status" = 0 ]; then
    echo "== cargo fuzz cmin ${sanitizer[*]} $target ${corpora[0]}"
    cargo fuzz cmin "${sanitizer[@]}" "$target" "${corpora[0]}"
fi
exit "$status"
