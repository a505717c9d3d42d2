#!/usr/bin/env bash
# Builds the libFuzzer seed corpora from the regression corpus: every corpus/**/*.gp is copied
# as-is into fuzz/corpus/<target>/ for each fuzz target (switchyard::gen::bytes::decode reads
# program text directly, so no conversion is needed). Files keep a path-derived name, so
# rerunning refreshes them; inputs libFuzzer added to those directories are left alone.
# fuzz/seeds/<target>/*, where present, is copied too (seed-extra-NAME): inputs for that target
# alone, such as the parser's layouts and malformed files that corpus/ has no reason to hold.
#
#   ci/fuzz-seeds.sh [TARGET...]     # default: every target in fuzz/fuzz_targets/
set -euo pipefail
cd "$(dirname "$0")/.."

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in fuzz/fuzz_targets/*.rs; do
        targets+=("$(basename "$f" .rs)")
    done
fi

mapfile -t seeds < <(find corpus -type f -name '*.gp' | sort)
if [ ${#seeds[@]} -eq 0 ]; then
    echo "fuzz-seeds: no corpus/**/*.gp files found" >&2
    exit 1
fi

for target in "${targets[@]}"; do
    dir="fuzz/corpus/$target"
    mkdir -p "$dir"
    for seed in "${seeds[@]}"; do
        # corpus/a/b.gp -> seed-a-b.gp
        name="seed-$(echo "${seed#corpus/}" | tr '/' '-')"
        cp "$seed" "$dir/$name"
    done
    extra=0
    if [ -d "fuzz/seeds/$target" ]; then
        for seed in "fuzz/seeds/$target"/*; do
            [ -f "$seed" ] || continue
            cp "$seed" "$dir/seed-extra-$(basename "$seed")"
            extra=$((extra + 1))
        done
    fi
    echo "fuzz-seeds: ${#seeds[@]} + $extra seeds in $dir"
done
