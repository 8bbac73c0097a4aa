#!/usr/bin/env bash
# Set up and run the whole product (web, worker, scheduler) with demo data.
# With no DATABASE_URL / REDIS_URL it runs on SQLite and a file-based Celery broker: nothing else to install.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_venv requirements.txt
mkdir -p var
PORT="${PORT:-8000}"
if python - "$PORT" <<'PY'
import socket, sys
s = socket.socket()
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
PY
then
  echo "Port ${PORT} is already in use by another program. Stop it, or choose another port: PORT=8001 $0" >&2
  exit 1
fi

echo "==> Migrating the database"
python manage.py migrate --noinput -v0
echo "==> Compiling translations"
compile_translations
echo "==> Seeding the demo"
python manage.py seed_demo

pids=()
cleanup() { echo; echo "==> Stopping"; kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

celery -A config worker -Q celery,timers --loglevel=INFO --concurrency=2 --hostname="worker@%h" >var/worker.log 2>&1 & pids+=($!)
celery -A config beat --loglevel=INFO --schedule=var/celerybeat-schedule >var/beat.log 2>&1 & pids+=($!)
python manage.py runserver "127.0.0.1:${PORT}" --noreload >var/web.log 2>&1 & pids+=($!)

up=""
for _ in $(seq 1 60); do
  if ! kill -0 "${pids[2]}" 2>/dev/null; then break; fi  # the web server gave up (see var/web.log)
  if curl -fsS "http://127.0.0.1:${PORT}/healthz" >/dev/null 2>&1; then up=yes; break; fi
  sleep 0.5
done
if [ -z "$up" ]; then
  echo "The web server did not come up on port ${PORT}; the last lines of var/web.log:" >&2
  tail -n 20 var/web.log >&2
  exit 1
fi
cat <<MSG

  Opvolger is running:  http://127.0.0.1:${PORT}/
  API docs:             http://127.0.0.1:${PORT}/api/v1/docs/
  Health:               http://127.0.0.1:${PORT}/healthz
  Logs:                 var/web.log, var/worker.log, var/beat.log
  Demo logins are listed above (password: opvolger-demo).  Ctrl-C stops everything.

MSG
wait -n "${pids[@]}"
