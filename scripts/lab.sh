#!/usr/bin/env bash
# The censorship lab (docs/lab.md). Needs root, iproute2, iptables and the test extras.
#   scripts/lab.sh [pytest args]        run the scenarios (e.g. scripts/lab.sh -k tls_sni)
#   scripts/lab.sh docs|list|clean|up|record   see tests/lab/__main__.py
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || { echo "no $PYTHON: run scripts/test.sh once (it builds .venv)" >&2; exit 2; }
case "${1:-}" in
  docs|list|clean|up|record) PYTHONPATH=tests exec "$PYTHON" -m lab "$@" ;;
  *) exec "$PYTHON" -m pytest tests/lab "$@" ;;
esac
