#!/usr/bin/env bash
# Valgrind memcheck over the native backends (every registered backend but the `thread`
# oracle): the regression corpus, then seeded random programs of the default and the deep
# generator profiles. Any memcheck error (--error-exitcode=1) or any divergence from the oracle
# fails. The backends register the stacks they allocate with Valgrind's client requests.
#
#   ci/valgrind.sh [--programs N] [--deep N] [--seed S] [--jobs J] [--no-corpus]
#
#   --programs N   random programs of the default profile (default 200;
#                  env SWITCHYARD_VALGRIND_PROGRAMS)
#   --deep N       random programs of the deep profile (default 100;
#                  env SWITCHYARD_VALGRIND_DEEP)
#   --seed S       generator seed (default 0; env SWITCHYARD_VALGRIND_SEED)
#   --jobs J       Valgrind processes at once (default: nproc)
#   --no-corpus    skip the corpus
#
# Every program runs on every native backend in the same Valgrind process (`switchyard run`
# with one --backend per native backend); most of the time goes to the oracle, which `run`
# always runs and which is slow under Valgrind's serialised threads, so one process per batch
# instead of one per backend keeps CI short. When a batch fails, each backend is rerun alone on
# it to name the one at fault, and the `gen` command that rebuilds the batch is printed.
set -euo pipefail
cd "$(dirname "$0")/.."

programs="${SWITCHYARD_VALGRIND_PROGRAMS:-200}"
deep="${SWITCHYARD_VALGRIND_DEEP:-100}"
seed="${SWITCHYARD_VALGRIND_SEED:-0}"
jobs="$(nproc)"
corpus=1
while [ $# -gt 0 ]; do
  case "$1" in
    --programs) programs="$2"; shift 2 ;;
    --deep) deep="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --no-corpus) corpus=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "valgrind.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for n in "$programs" "$deep" "$seed" "$jobs"; do
  case "$n" in ''|*[!0-9]*) echo "valgrind.sh: '$n' is not a number" >&2; exit 2 ;; esac
done
[ "$jobs" -ge 1 ] || jobs=1

if ! command -v valgrind >/dev/null; then
  echo "== apt-get install valgrind"
  sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q valgrind >/dev/null
fi

cargo build --release --quiet --bin switchyard
bin=./target/release/switchyard
mapfile -t natives < <("$bin" backends | grep -v '^thread$')
backend_args=()
for b in "${natives[@]}"; do backend_args+=(--backend "$b"); done

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# check NAME REPLAY FILE...: every native backend under memcheck on FILE...; on failure, each
# backend alone, then the replay hint. Prints one status line; returns 1 on failure.
check() {
  local name="$1" replay="$2"
  shift 2
  local log="$scratch/$name.log"
  if valgrind -q --error-exitcode=1 "$bin" run "${backend_args[@]}" "$@" >/dev/null 2>"$log"; then
    echo "ok   $name ($# programs on ${natives[*]})"
    return 0
  fi
  {
    echo "FAIL $name ($# programs on ${natives[*]}):"
    tail -n 60 "$log"
    for b in "${natives[@]}"; do
      if valgrind -q --error-exitcode=1 "$bin" run --backend "$b" "$@" >/dev/null 2>&1; then
        echo "  $b alone: clean"
      else
        echo "  $b alone: FAILS"
      fi
    done
    echo "  replay: $replay"
  } >&2
  return 1
}

# Batches: the corpus, then each profile's programs cut into `jobs` ranges of indices.
batches=()
if [ "$corpus" = 1 ]; then
  batches+=("corpus")
fi
add_batches() {
  local profile="$1" count="$2" per start n
  [ "$count" -gt 0 ] || return 0
  per=$(( (count + jobs - 1) / jobs ))
  for (( start = 0; start < count; start += per )); do
    n=$(( count - start < per ? count - start : per ))
    batches+=("$profile:$start:$n")
  done
}
add_batches default "$programs"
add_batches deep "$deep"

echo "== valgrind: native backends ${natives[*]}: corpus=$corpus, $programs default + $deep deep programs of seed $seed, $jobs at once"
run_batch() {
  local batch="$1"
  if [ "$batch" = corpus ]; then
    local files
    mapfile -t files < <(find corpus -name '*.gp' | sort)
    check corpus "valgrind $bin run ${backend_args[*]} corpus/**/*.gp" "${files[@]}"
    return
  fi
  local profile start n dir
  IFS=: read -r profile start n <<<"$batch"
  dir="$scratch/$profile-$start"
  "$bin" gen --seed "$seed" --start "$start" --count "$n" --out "$dir" --profile "$profile"
  check "$profile-$start..$((start + n - 1))" \
    "switchyard gen --seed $seed --start $start --count $n --out DIR --profile $profile && valgrind $bin run ${backend_args[*]} DIR/*.gp" \
    "$dir"/*.gp
}

status=0
running=0
for batch in "${batches[@]}"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n || status=1
    running=$((running - 1))
  fi
  run_batch "$batch" &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
  wait -n || status=1
  running=$((running - 1))
done
if [ "$status" != 0 ]; then
  echo "valgrind.sh: memcheck errors or divergences (above)" >&2
fi
exit "$status"
