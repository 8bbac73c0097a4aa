"""A throw-away PostgreSQL database for a benchmark: created and migrated on entry, dropped on exit."""

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parents[1]
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


def _admin(sql: str, params=None):
    conn = psycopg2.connect(dbname="postgres", **PG)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone() if cur.description else None
    finally:
        conn.close()


def database_exists(name: str) -> bool:
    return _admin("SELECT 1 FROM pg_database WHERE datname = %s", [name]) is not None


def database_recreate(name: str) -> None:
    """An empty database of this name (a leftover from an interrupted run is dropped first)."""
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{name}"')


def database_drop(name: str) -> None:
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_url(name: str) -> str:
    return f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{name}"


def bench_env(name: str, **extra) -> dict:
    """Production settings against the bench database (no TLS redirect: the load comes over plain HTTP on loopback)."""
    return {
        # Production requires one; a benchmark that sets its own (bench/mailbox.py) keeps it.
        "MAILBOX_ENCRYPTION_KEY": "p2mS3mH1b9n7wE7QxkN0v3Zf0qk9q3p2J8tKc1d4yXo=",  # throw-away, bench databases only
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "bench-" + "x7Kq9" * 12,
        "DATABASE_URL": database_url(name),
        "REDIS_URL": "redis://127.0.0.1:6379/8",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
        "LOG_LEVEL": "WARNING",
        "SITE_URL": "http://127.0.0.1",
        "WEB_PUSH_VAPID_PRIVATE_KEY": "wscA1OdgrB12QmxM-Ry87iVfXsRgvo9vSRQwaZBDAxQ",  # the benchmarks' own pair
        "WEB_PUSH_VAPID_SUBJECT": "mailto:bench@opvolger.local",
        **extra,
    }


@contextlib.contextmanager
def bench_database(name: str):
    database_recreate(name)
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=bench_env(name), check=True)
        yield name
    finally:
        database_drop(name)


def setup_django(name: str, **extra) -> None:
    """Configure Django in this process for the bench database (`extra`: more environment, as for `bench_env`)."""
    os.environ.update(bench_env(name, **extra))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def proc_cpu(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds process `pid` has used (a PostgreSQL backend serving a benchmark), from Linux /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def wait_until_up(port: int, timeout: float = 30) -> None:
    """Wait for the benchmark's own server to answer /healthz on 127.0.0.1:`port`."""
    import http.client
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("gunicorn did not come up")


def port_free_or_exit(port: int) -> None:
    """Refuse to start when something already listens on the benchmark's port: its answers would be counted."""
    import socket

    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(f"REFUSED: port {port} is already in use; stop what listens there and run again")


def statuses_or_exit(name: str, statuses: dict, expected: set[int]) -> None:
    """Refuse to report figures made of answers that are not the expected ones (a 401 is no lead)."""
    wrong = {code: n for code, n in statuses.items() if code not in expected}
    if wrong:
        raise SystemExit(f"REFUSED: {name} answered {wrong} besides the expected {sorted(expected)}; no figures")
