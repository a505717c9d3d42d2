#!/bin/bash -eu
# Builds every cargo-fuzz target into $OUT, each with its seed corpus, as ClusterFuzzLite's
# Rust builder image expects (it runs this script as $SRC/build.sh from $SRC/switchyard, with
# $SRC, $OUT and $WORK set). ci/clusterfuzzlite.sh runs this same script outside the image and
# then runs every fuzzer it produced on its seed corpus.
#
# Per fuzz target NAME (fuzz/fuzz_targets/NAME.rs):
#   $OUT/NAME                  the libFuzzer binary (cargo fuzz build -O --debug-assertions)
#   $OUT/NAME_seed_corpus.zip  every corpus/**/*.gp (program text is a valid input of every
#                              target: the differential ones decode it as that program, the
#                              parser target parses it)
#   $OUT/NAME.dict             fuzz/fuzz.dict, the language's keywords and shapes
#
# Sanitizer: ClusterFuzzLite sets SANITIZER (address is the only one it offers for Rust), but
# the native backends switch stacks without telling AddressSanitizer yet (no
# __sanitizer_start_switch_fiber / __sanitizer_finish_switch_fiber; issue 11, items 1-3), so an
# ASan build reports false positives on them within seconds (fuzz/README.md). Until those
# annotations exist this script builds with `-s none` (libFuzzer's coverage instrumentation
# only) whatever SANITIZER says, and the workflows turn the image's ASan bad-build check off.
# Hook for the ASan work: SWITCHYARD_FUZZ_SANITIZER=address builds with ASan; once the
# backends are annotated, make the default "${SANITIZER:-none}" and drop
# `bad-build-check: false` from .github/workflows/cflite_*.yml.

cd "$SRC/switchyard"
sanitizer="${SWITCHYARD_FUZZ_SANITIZER:-none}"

# The fuzz crate is its own workspace with its own target directory (fuzz/target).
unset CARGO_TARGET_DIR
cargo fuzz build -O --debug-assertions -s "$sanitizer"
built=fuzz/target/x86_64-unknown-linux-gnu/release

targets=()
for src in fuzz/fuzz_targets/*.rs; do
  targets+=("$(basename "$src" .rs)")
done

for target in "${targets[@]}"; do
  cp "$built/$target" "$OUT/"
  cp fuzz/fuzz.dict "$OUT/$target.dict"
done

# Seed corpora: one zip, copied per target. Entry names are flattened paths (a/b.gp -> a-b.gp).
# Python's zipfile: the builder image has python3, not always zip.
python3 - "$OUT/${targets[0]}_seed_corpus.zip" <<'PY'
import pathlib, sys, zipfile
seeds = sorted(pathlib.Path("corpus").rglob("*.gp"))
if not seeds:
    sys.exit("build.sh: no corpus/**/*.gp seeds")
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    for p in seeds:
        z.write(p, "-".join(p.relative_to("corpus").parts))
print(f"build.sh: {len(seeds)} seeds per target")
PY
for target in "${targets[@]:1}"; do
  cp "$OUT/${targets[0]}_seed_corpus.zip" "$OUT/${target}_seed_corpus.zip"
done
echo "build.sh: built ${targets[*]} (-s $sanitizer) into $OUT"
