#!/usr/bin/env bash
# The transport benchmark with every client: builds bench/.venv-transport (urllib3, httpx and requests,
# kept out of the project's own dependencies) once, then runs bench/transport.py in it. Arguments are
# passed on (see python bench/transport.py --help). nexus_micro comes from this checkout (or --nexus-micro).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=bench/.venv-transport
if ! "$VENV/bin/python" -c "import urllib3, httpx, requests" 2>/dev/null; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q "urllib3>=2" "httpx>=0.27" "requests>=2.32"
fi
exec "$VENV/bin/python" bench/transport.py "$@"
