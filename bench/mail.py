"""The raw-mail endpoint under load: POST /api/v1/leads/mail/ over HTTP (gunicorn on PostgreSQL).

Posts a mix of the fixture mails (the shared set and tests/fixtures/mail: portal leads, missed calls, forwards, HTML-only,
auto-replies, marketing, an answered call), each with a Message-ID of its own so every post is read, stored and routed.
Prints p50/p99 latency and mails/s. Refuses to report when any response is not the status the fixture expects (201 for
a lead, 200 for a mail that is none): a fast wrong answer is no figure.

Run:  .venv/bin/python bench/mail.py [--mails 600] [--concurrency 4] [--workers 2]
"""

import argparse
import http.client
import json
import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.benchdb import ROOT, bench_database, bench_env, percentile, port_free_or_exit, setup_django, wait_until_up  # noqa: E402

DB = "opvolger_bench_mail"
PORT = 8767
FIXTURE_DIRS = [ROOT.parent / "shared" / "fixtures" / "mail", ROOT / "tests" / "fixtures" / "mail"]


def fixture_mails() -> list[tuple[str, bytes, int]]:
    """(name, raw bytes, expected status) for every fixture mail with expected values."""
    mails = []
    for folder in FIXTURE_DIRS:
        expected = json.loads((folder / "expected.json").read_text())
        for name, values in sorted(expected.items()):
            mails.append((name, (folder / name).read_bytes(), 201 if values["lead"] else 200))
    if len(mails) < 20:
        raise SystemExit(f"only {len(mails)} fixture mails found in {FIXTURE_DIRS}")
    return mails


def unique(raw: bytes, i: int) -> bytes:
    """The same mail under a Message-ID of its own (a re-post of the same ID would be a cheap duplicate)."""
    new_id = f"Message-ID: <bench-{i}-{time.time_ns()}@bench.example>".encode()
    replaced, n = re.subn(rb"(?im)^Message-ID:[^\r\n]*", new_id, raw, count=1)
    return replaced if n else new_id + b"\n" + raw


def mail_fixture() -> str:
    """One dealer, open all week, five salespeople on duty; returns an API key."""
    from django.db import connection

    from dealers.models import Membership, Role
    from dealers.services import api_key_create
    from tests.factories import DealerFactory, UserFactory, open_all_week

    dealer = DealerFactory(slug="bench-dealer")
    open_all_week(dealer)
    for i in range(5):
        Membership.objects.create(dealer=dealer, user=UserFactory(email=f"verkoper{i}@bench.test"), role=Role.SALESPERSON)
    raw_key = api_key_create(dealer=dealer, source="mailforward", rate_per_minute=10**7)[1]
    connection.close()
    return raw_key


def load(raw_key: str, plan: list[tuple[str, bytes, int]], concurrency: int) -> dict:
    latencies: list[float] = []
    wrong: list[tuple[str, int, int, bytes]] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    todo = iter(enumerate(plan))

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
        while True:
            with lock:
                item = next(todo, None)
            if item is None:
                break
            i, (name, raw, expected) = item
            body = unique(raw, i)
            start = time.perf_counter()
            conn.request("POST", "/api/v1/leads/mail/", body=body,
                         headers={"Content-Type": "message/rfc822", "Authorization": f"Api-Key {raw_key}"})
            response = conn.getresponse()
            content = response.read()
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                statuses[response.status] = statuses.get(response.status, 0) + 1
                if response.status != expected:
                    wrong.append((name, expected, response.status, content[:300]))
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    began = time.monotonic()
    [t.start() for t in threads]
    [t.join() for t in threads]
    elapsed = time.monotonic() - began
    return {"mails": len(latencies), "per_second": len(latencies) / elapsed, "statuses": statuses, "wrong": wrong,
            "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mails", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if args.mails < 500:
        raise SystemExit("use at least 500 mails: fewer give no stable p99")
    fixtures = fixture_mails()
    plan = [fixtures[i % len(fixtures)] for i in range(args.mails)]

    with bench_database(DB):
        setup_django(DB)
        raw_key = mail_fixture()
        env = bench_env(DB, DJANGO_SETTINGS_MODULE="bench.settings", CELERY_BROKER_URL="redis://127.0.0.1:6379/8")
        port_free_or_exit(PORT)
        web = subprocess.Popen([sys.executable, "-m", "gunicorn", "bench.settings_wsgi:application",
                                "--bind", f"127.0.0.1:{PORT}", "--workers", str(args.workers), "--log-level", "warning"],
                               cwd=ROOT, env=env)
        try:
            wait_until_up(PORT)
            load(raw_key, fixtures, args.concurrency)  # warm-up: every fixture once
            result = load(raw_key, plan, args.concurrency)
        finally:
            web.send_signal(signal.SIGTERM)
            web.wait(timeout=30)

    if result["wrong"]:
        for name, expected, got, content in result["wrong"][:10]:
            print(f"WRONG {name}: expected {expected}, got {got}: {content!r}", file=sys.stderr)
        raise SystemExit(f"{len(result['wrong'])} of {result['mails']} responses had the wrong status: no figures reported")
    load_avg = os.getloadavg()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {load_avg[0]:.1f} / {load_avg[1]:.1f} / {load_avg[2]:.1f}")
    print(f"gunicorn workers: {args.workers}, concurrency: {args.concurrency}, {result['mails']} mails "
          f"({len(fixtures)} fixtures mixed), statuses {result['statuses']}")
    print(f"POST /api/v1/leads/mail/  {result['per_second']:7.1f} mails/s   p50 {result['p50_ms']:6.1f} ms   "
          f"p99 {result['p99_ms']:6.1f} ms")


if __name__ == "__main__":
    main()
