# Shared by scripts/quickstart.sh and scripts/test.sh.

ensure_venv() {
  local requirements="$1"
  if [ ! -x .venv/bin/python ]; then
    echo "==> Creating the virtualenv (.venv)"
    python3 -m venv .venv
  fi
  # shellcheck disable=SC1091
  source .venv/bin/activate
  local stamp=".venv/.installed-$(cat requirements.txt "$requirements" | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    echo "==> Installing $requirements"
    # Every package pinned with its hashes (scripts/lock.sh): a changed or substituted file fails the install.
    python -m pip install --quiet --require-hashes -r "$requirements"
    touch "$stamp"
  fi
}

compile_translations() {
  if ! command -v msgfmt >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      apt-get install -y -q gettext >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q gettext >/dev/null; }
    else
      echo "msgfmt (GNU gettext) is needed to compile translations: install the 'gettext' package." >&2
      return 1
    fi
  fi
  python manage.py compilemessages -v0 --ignore=.venv
}

service_up_postgres() { python - <<'PY'
import socket, sys
s = socket.socket(); s.settimeout(1)
sys.exit(0 if s.connect_ex(("127.0.0.1", 5432)) == 0 else 1)
PY
}

service_up_redis() { python - <<'PY'
import sys
import redis
try:
    redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()
except Exception:
    sys.exit(1)
PY
}

ensure_services() {
  if ! service_up_postgres; then
    echo "==> PostgreSQL is not running: starting it"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
    for _ in $(seq 1 30); do service_up_postgres && break || sleep 1; done
  fi
  if ! service_up_redis; then
    echo "==> Redis is not running: starting it"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
    for _ in $(seq 1 30); do service_up_redis && break || sleep 1; done
  fi
  service_up_postgres || { echo "FATAL: PostgreSQL is not reachable on 127.0.0.1:5432; the tests need it." >&2; exit 1; }
  service_up_redis || { echo "FATAL: Redis is not reachable on 127.0.0.1:6379; the tests need it." >&2; exit 1; }
}

ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then return 0; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> Installing Chromium from the OS packages (browser tests)"
    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
  fi
  if [ ! -x /usr/bin/chromium ]; then
    echo "FATAL: /usr/bin/chromium is missing; install it with 'apt-get install chromium'." >&2
    exit 1
  fi
}

ensure_dovecot() {
  # The mailbox tests start their own private Dovecot (tests/imap_server.py); they need only the packaged binary.
  if [ -x /usr/sbin/dovecot ]; then return 0; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> Installing Dovecot from the OS packages (mailbox tests)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q dovecot-imapd >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q dovecot-imapd >/dev/null; }
  fi
  if [ ! -x /usr/sbin/dovecot ]; then
    echo "FATAL: /usr/sbin/dovecot is missing; install it with 'apt-get install dovecot-imapd'." >&2
    exit 1
  fi
}
