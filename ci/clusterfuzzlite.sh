#!/usr/bin/env bash
# Proves .clusterfuzzlite/build.sh produces working fuzzers without the builder image (no
# container registry is reachable here): runs that script the way the image's `compile` step
# does, as $SRC/build.sh from $SRC/switchyard with SRC, OUT and WORK set (plus the SANITIZER,
# FUZZING_ENGINE, FUZZING_LANGUAGE and ARCHITECTURE the image sets), then runs every fuzzer it
# put in $OUT on its unpacked $OUT/NAME_seed_corpus.zip with its $OUT/NAME.dict for a few
# seconds, as ClusterFuzzLite's run step would. Fails unless every fuzz_targets/*.rs has its
# binary, seed zip and dictionary, and every fuzzer loads all its seeds and exits cleanly.
#
#   ci/clusterfuzzlite.sh [SECONDS]     # per fuzzer, default 4 (env SWITCHYARD_CFLITE_SECONDS)
#
# The scratch $SRC/$OUT/$WORK live in a temporary directory; $SRC/switchyard is a symlink to
# this checkout, so cargo reuses fuzz/target (the same build as ci/fuzz.sh's `cargo fuzz run`,
# AddressSanitizer, as SANITIZER=address asks). SWITCHYARD_FUZZ_FEATURES reaches build.sh
# unchanged (ci/test.sh sets `mutants`, so ci/fuzz.sh --mutants and ci/asan.sh --fuzzer reuse
# this build).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd -P)"
cd "$root"
seconds="${1:-${SWITCHYARD_CFLITE_SECONDS:-4}}"
case "$seconds" in ''|*[!0-9]*) echo "clusterfuzzlite.sh: '$seconds' is not a number of seconds" >&2; exit 2 ;; esac

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== cargo install cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
export SRC="$scratch/src" OUT="$scratch/out" WORK="$scratch/work"
export SANITIZER=address FUZZING_ENGINE=libfuzzer FUZZING_LANGUAGE=rust ARCHITECTURE=x86_64
mkdir -p "$SRC" "$OUT" "$WORK"
ln -s "$root" "$SRC/switchyard"
cp .clusterfuzzlite/build.sh "$SRC/build.sh"

echo "== .clusterfuzzlite/build.sh (SRC, OUT, WORK in $scratch)"
start=$SECONDS
(cd "$SRC/switchyard" && bash -eu "$SRC/build.sh")
echo "build.sh took $((SECONDS - start)) s"

status=0
for src in fuzz/fuzz_targets/*.rs; do
  name="$(basename "$src" .rs)"
  for f in "$OUT/$name" "$OUT/${name}_seed_corpus.zip" "$OUT/$name.dict"; do
    if [ ! -s "$f" ]; then
      echo "FAIL $name: build.sh did not produce $f" >&2
      status=1
      continue 2
    fi
  done
  corpus="$WORK/run/$name/corpus"
  mkdir -p "$corpus"
  seeds="$(python3 - "$OUT/${name}_seed_corpus.zip" "$corpus" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    z.extractall(sys.argv[2])
    print(len(z.namelist()))
PY
)"
  log="$WORK/run/$name/log"
  if ! "$OUT/$name" -dict="$OUT/$name.dict" -max_total_time="$seconds" -timeout=25 \
      -rss_limit_mb=2560 -print_final_stats=1 -artifact_prefix="$WORK/run/$name/" \
      "$corpus" >"$log" 2>&1; then
    echo "FAIL $name: the fuzzer failed on its seed corpus; last lines of its log:" >&2
    tail -n 40 "$log" >&2
    status=1
    continue
  fi
  loaded="$(sed -n 's/^INFO: seed corpus: files: \([0-9]*\).*/\1/p' "$log" | head -n1)"
  if [ "$loaded" != "$seeds" ]; then
    echo "FAIL $name: libFuzzer loaded ${loaded:-no} seed files, the zip has $seeds" >&2
    tail -n 40 "$log" >&2
    status=1
    continue
  fi
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
  echo "ok   $name: $seeds seeds, $runs inputs in ${seconds}s"
done
exit "$status"
