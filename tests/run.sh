#!/usr/bin/env bash
# The test command: bash tests/run.sh [pytest arguments]
#
# Sets up everything on a fresh Debian machine: a venv at .venv with the project and its test
# extra, the GIMP 3.0/3.2 roots for the end-to-end tests (when run as root), then pytest.
# Under CI=true a GIMP root that cannot be provisioned is a failure, not a skip.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv=.venv
if ! "$venv/bin/python" -c "import sys" 2>/dev/null; then
    echo "== creating $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
fi
echo "== installing the project and its test tools into $venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[test]'

if [ "$(id -u)" = 0 ]; then
    echo "== provisioning the GIMP roots"
    if ! "$venv/bin/python" -m tests.gimp.provision; then
        if [ "${CI:-}" = true ]; then
            echo "run.sh: the GIMP roots could not be provisioned (CI=true: failing)" >&2
            exit 1
        fi
        echo "run.sh: the GIMP roots could not be provisioned; the gimp tests will be skipped" >&2
        export BIANXIE_GIMP_NO_PROVISION=1
    fi
else
    echo "run.sh: not root, so no GIMP roots: the gimp tests will be skipped (or fail under CI)" >&2
fi

echo "== pytest"
exec "$venv/bin/python" -m pytest -ra "$@"
