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
# A whole run (and CI) first checks what is not a test: lint, migrations that were not made, production settings.
if [ "$#" -eq 0 ]; then
  echo "==> ruff check"
  ruff check .
  echo "==> makemigrations --check"
  DJANGO_SETTINGS_MODULE=config.settings.test python manage.py makemigrations --check --dry-run -v1
  echo "==> check --deploy (production settings, placeholder values)"
  env -u DJANGO_SETTINGS_MODULE DJANGO_SETTINGS_MODULE=config.settings.production \
    SECRET_KEY="ci-check-deploy-$(head -c 48 /dev/urandom | base64 | tr -d '/+=')" \
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/opvolger_check REDIS_URL=redis://127.0.0.1:6379/0 \
    ALLOWED_HOSTS=opvolger.example.nl SITE_URL=https://opvolger.example.nl \
    MAILBOX_ENCRYPTION_KEY="$(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
    WEB_PUSH_VAPID_PRIVATE_KEY="$(python manage.py webpush_keys | sed -n 's/^WEB_PUSH_VAPID_PRIVATE_KEY=//p')" \
    WEB_PUSH_VAPID_SUBJECT=mailto:beheer@opvolger.example.nl \
    python manage.py check --deploy --fail-level WARNING
  set -- -n 2
fi
# Each test has its own limit (pyproject.toml); this bounds the whole run, in case something outside a test hangs.
set +e
timeout --kill-after=30 "${TEST_SUITE_TIMEOUT:-2700}" python -m pytest "$@"
status=$?
if [ "$status" -eq 124 ]; then
  echo "The test suite did not finish within ${TEST_SUITE_TIMEOUT:-2700} s: that is a failure." >&2
fi
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here." >&2
  exit 1
fi
exit "$status"
