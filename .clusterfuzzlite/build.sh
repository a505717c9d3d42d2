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
#                              parser target parses it), plus fuzz/seeds/NAME/* if present
#                              (layouts and malformed inputs the corpus lacks)
#   $OUT/NAME.dict             fuzz/fuzz.dict, the language's keywords and shapes
#
# Sanitizer: the one ClusterFuzzLite asks for in SANITIZER (address is the only one it offers
# for Rust; the builder image's nightly toolchain builds it, and RUSTC_BOOTSTRAP=1 lets a
# stable one do the same). The runtime announces every stack switch to AddressSanitizer
# (impls/src/asan.rs, compiled in because impls/build.rs sees -Zsanitizer=address), so the
# native backends run clean under it. SWITCHYARD_FUZZ_SANITIZER overrides it (`none`: coverage
# instrumentation only, faster). SWITCHYARD_FUZZ_FEATURES (empty unless set) adds cargo
# features of the fuzz crate: this project's CI sets `mutants`, so that the same ASan build
# also serves `ci/fuzz.sh --mutants` and `ci/asan.sh --fuzzer` (the `differential` target's
# default backends never include a mutant).

cd "$SRC/switchyard"
sanitizer="${SWITCHYARD_FUZZ_SANITIZER:-${SANITIZER:-address}}"
export RUSTC_BOOTSTRAP=1

# The fuzz crate is its own workspace with its own target directory (fuzz/target).
unset CARGO_TARGET_DIR
features=()
if [ -n "${SWITCHYARD_FUZZ_FEATURES:-}" ]; then
  features=(--features "$SWITCHYARD_FUZZ_FEATURES")
fi
cargo fuzz build -O --debug-assertions -s "$sanitizer" "${features[@]}"
built=fuzz/target/x86_64-unknown-linux-gnu/release

targets=()
for src in fuzz/fuzz_targets/*.rs; do
  targets+=("$(basename "$src" .rs)")
done

for target in "${targets[@]}"; do
  cp "$built/$target" "$OUT/"
  cp fuzz/fuzz.dict "$OUT/$target.dict"
done

# Seed corpora, zipped with Python's zipfile (the builder image has python3, not always zip).
# Entry names are flattened paths: corpus/a/b.gp -> a-b.gp, fuzz/seeds/NAME/c.gp -> seeds-c.gp.
for target in "${targets[@]}"; do
  python3 - "$OUT/${target}_seed_corpus.zip" "fuzz/seeds/$target" <<'PY'
import pathlib, sys, zipfile
entries = [(p, "-".join(p.relative_to("corpus").parts))
           for p in sorted(pathlib.Path("corpus").rglob("*.gp"))]
extra = pathlib.Path(sys.argv[2])
if extra.is_dir():
    entries += [(p, "seeds-" + p.name) for p in sorted(extra.iterdir()) if p.is_file()]
if not entries:
    sys.exit("build.sh: no corpus/**/*.gp seeds")
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    for path, name in entries:
        z.write(path, name)
print(f"build.sh: {sys.argv[1]}: {len(entries)} seeds")
PY
done
echo "build.sh: built ${targets[*]} (-s $sanitizer ${features[*]}) into $OUT"
