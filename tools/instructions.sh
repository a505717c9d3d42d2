#!/usr/bin/env bash
# Instructions per operation of `switchyard bench`'s figures, by callgrind: repeatable on a
# loaded machine, unlike times. For each backend, three runs of `switchyard bench --iterations
# N` under callgrind, each counting every instruction of the process:
#   A: --depths 0 with N operations; B: --depths 0,1 with N operations (one more round-trip
#   figure, at 1 KiB); C: --depths 0 with 2N operations.
# (B - A) / N is one round trip at 1 KiB (for stack-copy that includes copying its 1 KiB
# frame; for the other backends the depth changes nothing); (C - A) / N is one round trip at
# depth 0 plus one spawn to finish, so (C - A) / N minus the depth-0 round trip from a fourth
# run D (--depths 0,0 is not allowed, so D = --depths 1 with N, and (B - D) / N is the round
# trip at depth 0) is one spawn to finish. Start-up, calibration-free set-up and the final
# report cancel out in the differences.
#
#   tools/instructions.sh [--iterations N] BACKEND...   (default N = 100000)
#
# Needs valgrind and a release build (cargo build --release; SWITCHYARD_BIN=PATH measures another
# binary). Prints one line per backend.
set -euo pipefail
cd "$(dirname "$0")/.."
n=100000
if [ "${1:-}" = "--iterations" ]; then
    n="$2"
    shift 2
fi
if [ $# -eq 0 ]; then
    echo "usage: tools/instructions.sh [--iterations N] BACKEND..." >&2
    exit 2
fi
bin="${SWITCHYARD_BIN:-target/release/switchyard}"
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 2; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
count() { # backend depths iterations -> instructions
    valgrind --tool=callgrind --callgrind-out-file="$tmp/out" "$bin" bench --backends "$1" \
        --depths "$2" --iterations "$3" --no-peers --no-memory --no-page-offsets -q \
        >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' "$tmp/err"
}
for b in "$@"; do
    a=$(count "$b" 0 "$n")
    bb=$(count "$b" 0,1 "$n")
    c=$(count "$b" 0 $((2 * n)))
    d=$(count "$b" 1 "$n")
    python3 - "$b" "$n" "$a" "$bb" "$c" "$d" <<'PY'
import sys
b, n, a, bb, c, d = sys.argv[1], *map(int, sys.argv[2:])
rt1 = (bb - a) / n
rt0 = (bb - d) / n
spawn = (c - a) / n - rt0
print(f"{b:12} round trip at 0 KiB {rt0:8.0f}   at 1 KiB {rt1:8.0f}   spawn to finish {spawn:8.0f}   instructions")
PY
done
