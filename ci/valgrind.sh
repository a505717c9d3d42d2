#!/usr/bin/env bash
# Runs the whole corpus on each native backend under Valgrind memcheck; any error fails.
# The backends register the stacks they allocate with Valgrind's client requests.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v valgrind >/dev/null; then
  echo "valgrind is not installed: apt-get install -y valgrind" >&2
  exit 1
fi
cargo build --release --quiet --bin switchyard
for backend in $(./target/release/switchyard backends | grep -v '^thread$'); do
  echo "== valgrind: corpus on $backend"
  find corpus -name "*.gp" -print0 | sort -z | xargs -0 valgrind -q --error-exitcode=1 ./target/release/switchyard run --backend "$backend" >/dev/null
done
