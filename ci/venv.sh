#!/usr/bin/env bash
# Creates (once) the repo-root .venv holding the pinned real greenlet used by
# tools/greenlet_runner.py, and prints the venv's python path on its last line.
# Idempotent and quiet; works from any directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
py="$venv/bin/python"
req="$root/tools/requirements.txt"
want="$(sed -n 's/^greenlet==\([^[:space:]#]*\).*/\1/p' "$req" | head -n1)"

if [ ! -x "$py" ]; then
  python3 -m venv "$venv" >/dev/null
fi

have="$("$py" -c 'import greenlet; print(greenlet.__version__)' 2>/dev/null || true)"
if [ "$have" != "$want" ]; then
  "$py" -m pip install --quiet --disable-pip-version-check -r "$req" >/dev/null
  have="$("$py" -c 'import greenlet; print(greenlet.__version__)')"
  if [ "$have" != "$want" ]; then
    echo "ci/venv.sh: installed greenlet $have, wanted $want" >&2
    exit 1
  fi
fi

echo "$py"
