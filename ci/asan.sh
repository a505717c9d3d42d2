#!/usr/bin/env bash
# AddressSanitizer over the native backends: seeded random programs (default and deep
# profiles) on every real backend, the adapters included, must run clean (any ASan report or
# divergence from the oracle fails), and the deliberately broken `mutant-asan-redzone` (a
# one-byte write past a live stack buffer of a suspended greenlet, invisible to every other
# check) must be reported by ASan as a stack-buffer-overflow naming the stack address.
#
#   ci/asan.sh [--fuzzer] [--programs N] [--deep N] [--seed S] [--jobs J] [--backend NAME]...
#              [--no-mutant]
#
#   --fuzzer       run the programs through cargo-fuzz's ASan build of the `differential`
#                  fuzzer (fuzz/target, feature `mutants`: the build ci/fuzz.sh --mutants and
#                  SWITCHYARD_FUZZ_FEATURES=mutants ci/clusterfuzzlite.sh make, reused; built
#                  here if missing) instead of building `switchyard fuzz` with ASan: the normal
#                  release `switchyard gen` writes the seeded programs and the fuzzer runs each
#                  once (-runs=0). What CI runs: it shares one ASan build with ClusterFuzzLite
#                  and the fuzzing step.
#   --programs N   default-profile programs (default 300; env SWITCHYARD_ASAN_PROGRAMS)
#   --deep N       deep-profile programs (default 100; env SWITCHYARD_ASAN_DEEP)
#   --seed S       generator seed (default 0)
#   --jobs J       worker processes, without --fuzzer (default: nproc)
#   --backend NAME only this backend (repeatable; default: every real backend but the oracle,
#                  the adapters corosensei and fcontext included)
#   --no-mutant    skip the mutant check
#
# Without --fuzzer: `switchyard fuzz` built with ASan, stable rustc with RUSTC_BOOTSTRAP=1 and
# RUSTFLAGS=-Zsanitizer=address, for the host target given explicitly (so build scripts and
# proc macros stay unsanitized), features `mutants`, into target/asan/ (apart from the normal
# build); the mutant is found by a campaign (`fuzz --backend mutant-asan-redzone`, minimized).
# Either way impls/build.rs sees the sanitizer flag and compiles in the fiber annotations
# (impls/src/asan.rs). A cold ASan build takes many minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

programs="${SWITCHYARD_ASAN_PROGRAMS:-300}"
deep="${SWITCHYARD_ASAN_DEEP:-100}"
seed=0
jobs="$(nproc)"
mutant=1
fuzzer=0
chosen=()
while [ $# -gt 0 ]; do
  case "$1" in
    --fuzzer) fuzzer=1; shift ;;
    --programs) programs="$2"; shift 2 ;;
    --deep) deep="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --backend) chosen+=("$2"); shift 2 ;;
    --no-mutant) mutant=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "asan.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for n in "$programs" "$deep" "$seed" "$jobs"; do
  case "$n" in ''|*[!0-9]*) echo "asan.sh: '$n' is not a number" >&2; exit 2 ;; esac
done

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
host="$(rustc -vV | sed -n 's/^host: //p')"
label="${chosen[*]:-every real backend}"

if [ "$fuzzer" = 1 ]; then
  # The fuzz crate is its own workspace with its own target directory.
  fuzz_bin="fuzz/target/$host/release/differential"
  start=$SECONDS
  (unset CARGO_TARGET_DIR; export RUSTC_BOOTSTRAP=1
   cargo fuzz build -O --debug-assertions -s address --features mutants differential)
  echo "asan.sh: ASan fuzzer build (fuzz/target) took $((SECONDS - start)) s"
  start=$SECONDS
  cargo build --release --quiet --bin switchyard
  gen="${CARGO_TARGET_DIR:-target}/release/switchyard"
  echo "asan.sh: switchyard build (for gen) took $((SECONDS - start)) s"
  if [ ${#chosen[@]} -gt 0 ]; then
    export SWITCHYARD_FUZZ_BACKENDS="$(IFS=,; echo "${chosen[*]}")"
  else
    unset SWITCHYARD_FUZZ_BACKENDS
  fi
  run_clean() { # PROFILE COUNT
    [ "$2" -gt 0 ] || return 0
    local dir="$scratch/programs-$1" log="$scratch/clean-$1.log" start=$SECONDS
    "$gen" gen --seed "$seed" --count "$2" --profile "$1" --out "$dir"
    echo "== ASan (differential fuzzer): $2 seeded programs ($1 profile, seed $seed) on $label"
    if ! "$fuzz_bin" -runs=0 -timeout=60 -rss_limit_mb=4096 -artifact_prefix="$scratch/" \
        "$dir" >"$log" 2>&1; then
      echo "asan.sh: ASan (or the differential check) found something:" >&2
      tail -n 60 "$log" >&2
      echo "(rebuild the programs: switchyard gen --seed $seed --count $2 --profile $1 --out DIR)" >&2
      exit 1
    fi
    local loaded kept
    loaded="$(sed -n 's/^INFO: seed corpus: files: \([0-9]*\).*/\1/p' "$log" | head -n1)"
    kept="$(sed -n 's/.*INITED.*corp: \([0-9]*\).*/\1/p' "$log" | head -n1)"
    if [ "$loaded" != "$2" ]; then
      echo "asan.sh: the fuzzer ran ${loaded:-no} files of the $2 programs" >&2
      tail -n 20 "$log" >&2
      exit 1
    fi
    echo "asan.sh: $2 programs clean in $((SECONDS - start)) s (libFuzzer kept ${kept:-?} of them as distinct coverage)"
  }
  run_clean default "$programs"
  run_clean deep "$deep"
  if [ "$mutant" = 1 ]; then
    echo "== ASan finds mutant-asan-redzone (a byte written past a suspended greenlet's buffer)"
    bash ci/fuzz-seeds.sh differential >/dev/null
    log="$scratch/mutant.log"
    status=0
    start=$SECONDS
    SWITCHYARD_FUZZ_BACKENDS=mutant-asan-redzone "$fuzz_bin" -max_total_time=60 \
      -artifact_prefix="$scratch/" fuzz/corpus/differential >"$log" 2>&1 || status=$?
    report="$(grep -m1 'ERROR: AddressSanitizer: stack-buffer-overflow on address 0x[0-9a-f]*' "$log" || true)"
    if [ "$status" = 0 ] || [ -z "$report" ]; then
      echo "asan.sh: ASan did not report mutant-asan-redzone (fuzzer exit $status)" >&2
      tail -n 40 "$log" >&2
      exit 1
    fi
    echo "found in $((SECONDS - start)) s: $report"
    grep -m1 'WRITE of size' "$log" || true
  fi
  exit 0
fi

export RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=address"
export CARGO_TARGET_DIR="$PWD/target/asan"
start=$SECONDS
cargo build --release --quiet --target "$host" --features mutants --bin switchyard
echo "asan.sh: ASan build took $((SECONDS - start)) s"
unset RUSTFLAGS
bin="$CARGO_TARGET_DIR/$host/release/switchyard"

backends=(--backend all)
if [ ${#chosen[@]} -gt 0 ]; then
  backends=()
  for b in "${chosen[@]}"; do backends+=(--backend "$b"); done
fi

run_clean() { # PROFILE COUNT
  [ "$2" -gt 0 ] || return 0
  echo "== ASan: $2 seeded programs ($1 profile, seed $seed) on $label"
  local out="$scratch/clean-$1" start=$SECONDS
  if ! "$bin" fuzz --programs "$2" --seed "$seed" --profile "$1" --jobs "$jobs" \
      "${backends[@]}" --out "$out"; then
    echo "asan.sh: ASan (or the differential check) found something; findings:" >&2
    for f in "$out"/*.gp; do [ -e "$f" ] && sed -n '1,/^[^#]/p' "$f" >&2; done
    exit 1
  fi
  echo "asan.sh: $2 programs clean in $((SECONDS - start)) s"
}
run_clean default "$programs"
run_clean deep "$deep"

if [ "$mutant" = 1 ]; then
  echo "== ASan finds mutant-asan-redzone (a byte written past a suspended greenlet's buffer)"
  out="$scratch/mutant"
  status=0
  "$bin" fuzz --seconds 60 --seed "$seed" --jobs "$jobs" --backend mutant-asan-redzone \
    --stop-after 1 --out "$out" >"$scratch/mutant.log" 2>&1 || status=$?
  finding="$(ls "$out"/*.gp 2>/dev/null | head -n1)"
  if [ "$status" != 1 ] || [ -z "$finding" ] \
      || ! grep -q 'AddressSanitizer: stack-buffer-overflow on address 0x' "$finding"; then
    echo "asan.sh: ASan did not report mutant-asan-redzone (fuzz exit $status)" >&2
    tail -n 30 "$scratch/mutant.log" >&2
    [ -n "$finding" ] && cat "$finding" >&2
    exit 1
  fi
  echo "found: $(grep -m1 'AddressSanitizer' "$finding")"
fi
