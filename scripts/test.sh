#!/usr/bin/env bash
# Run the whole test suite on the real PostgreSQL and Redis (started here when they are not running).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_venv requirements-dev.txt
ensure_services
ensure_chromium
ensure_dovecot
compile_translations

# The whole suite runs on both cores unless options are given (e.g. one file: ./scripts/test.sh tests/leads).
if [ "$#" -eq 0 ]; then
  set -- -n 2
fi
set +e
python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here." >&2
  exit 1
fi
exit "$status"
