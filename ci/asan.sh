#!/usr/bin/env bash
# AddressSanitizer over the native backends, through `switchyard fuzz` built with ASan:
# seeded random programs (default and deep profiles) on stack-copy, mmap and ucontext must run
# clean (any ASan report kills a worker and is a finding, exit 1), and the deliberately broken
# `mutant-asan-redzone` (a one-byte write past a live stack buffer of a suspended greenlet,
# invisible to every other check) must be reported by ASan as a stack-buffer-overflow.
#
#   ci/asan.sh [--programs N] [--deep N] [--seed S] [--jobs J] [--no-mutant]
#
#   --programs N   default-profile programs (default 300; env SWITCHYARD_ASAN_PROGRAMS)
#   --deep N       deep-profile programs (default 100; env SWITCHYARD_ASAN_DEEP)
#   --seed S       generator seed (default 0)
#   --jobs J       worker processes (default: nproc)
#   --no-mutant    skip the mutant check
#
# The build: stable rustc with RUSTC_BOOTSTRAP=1 and RUSTFLAGS=-Zsanitizer=address, for the
# host target given explicitly (so build scripts and proc macros stay unsanitized), features
# `mutants`, into target/asan/ (apart from the normal build). impls/build.rs sees the flag and
# compiles in the fiber annotations (impls/src/asan.rs). The first build takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

programs="${SWITCHYARD_ASAN_PROGRAMS:-300}"
deep="${SWITCHYARD_ASAN_DEEP:-100}"
seed=0
jobs="$(nproc)"
mutant=1
while [ $# -gt 0 ]; do
  case "$1" in
    --programs) programs="$2"; shift 2 ;;
    --deep) deep="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --no-mutant) mutant=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "asan.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for n in "$programs" "$deep" "$seed" "$jobs"; do
  case "$n" in ''|*[!0-9]*) echo "asan.sh: '$n' is not a number" >&2; exit 2 ;; esac
done

host="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=address"
export CARGO_TARGET_DIR="$PWD/target/asan"
start=$SECONDS
cargo build --release --quiet --target "$host" --features mutants --bin switchyard
echo "asan.sh: ASan build took $((SECONDS - start)) s"
unset RUSTFLAGS
bin="$CARGO_TARGET_DIR/$host/release/switchyard"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
natives=(--backend stack-copy --backend mmap)
if "$bin" backends | grep -qx ucontext; then natives+=(--backend ucontext); fi

run_clean() { # PROFILE COUNT
  [ "$2" -gt 0 ] || return 0
  echo "== ASan: $2 seeded programs ($1 profile, seed $seed) on ${natives[*]//--backend /}"
  local out="$scratch/clean-$1"
  if ! "$bin" fuzz --programs "$2" --seed "$seed" --profile "$1" --jobs "$jobs" \
      "${natives[@]}" --out "$out"; then
    echo "asan.sh: ASan (or the differential check) found something; findings:" >&2
    for f in "$out"/*.gp; do [ -e "$f" ] && sed -n '1,/^[^#]/p' "$f" >&2; done
    exit 1
  fi
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
      || ! grep -q 'AddressSanitizer: stack-buffer-overflow' "$finding"; then
    echo "asan.sh: ASan did not report mutant-asan-redzone (fuzz exit $status)" >&2
    tail -n 30 "$scratch/mutant.log" >&2
    [ -n "$finding" ] && cat "$finding" >&2
    exit 1
  fi
  echo "found: $(grep -m1 'AddressSanitizer' "$finding")"
fi
