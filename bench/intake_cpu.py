"""CPU seconds a lead costs, one request at a time: the web code (Django's test client, in this process), the
PostgreSQL backend serving it, and then the outbox flush that sends the leads' notices, with its backend's share.

Steadier than the timed runs of bench/intake.py for comparing two versions of the code: nothing runs concurrently, so
neither lock waits nor the other processes on the two cores enter the figure; only the host's speed of the minute does,
so alternate the versions (each in its own checkout) and compare pairs. Instructions: bench/intake_instructions.py.

Run:  .venv/bin/python bench/intake_cpu.py [--leads 1500] [--dealers 50]
"""

import argparse
import itertools
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.benchdb import bench_database, proc_cpu, setup_django  # noqa: E402
from bench.intake import intake_fixture, lead_body  # noqa: E402

DB = "opvolger_bench_intake_cpu"
REDIS = "redis://127.0.0.1:6379/9"


def measured(work, connection) -> tuple[float, float, float]:
    """(this process's CPU, the backend's user CPU, its system CPU) spent by `work()`."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    user0, system0 = proc_cpu(pid)
    own0 = time.process_time()
    work()
    own1 = time.process_time()
    user1, system1 = proc_cpu(pid)
    return own1 - own0, user1 - user0, system1 - system0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=1500)
    parser.add_argument("--dealers", type=int, default=50)
    parser.add_argument("--db", default=DB, help="bench database name (to run two versions side by side)")
    args = parser.parse_args()
    import redis

    redis.Redis.from_url(REDIS).flushdb()
    with bench_database(args.db):
        setup_django(args.db, DJANGO_SETTINGS_MODULE="bench.settings", CELERY_BROKER_URL=REDIS)
        from django.db import connection
        from django.test import Client

        from leads.services import outbox_flush

        clients = [Client(HTTP_AUTHORIZATION=f"Api-Key {key}", HTTP_HOST="127.0.0.1")
                   for key in intake_fixture(args.dealers)]
        counter = itertools.count()

        def post(n: int) -> None:
            for i in range(n):
                response = clients[i % len(clients)].post("/api/v1/leads/", lead_body(next(counter)),
                                                          content_type="application/json")
                if response.status_code != 201:
                    raise SystemExit(f"REFUSED: a lead was answered {response.status_code}: {response.content[:300]!r}")

        post(100)  # warm-up
        outbox_flush()
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        web, pg_user, pg_system = measured(lambda: post(args.leads), connection)
        sent = []
        worker, out_user, out_system = measured(lambda: sent.append(outbox_flush()), connection)
        connection.close()
    if sent[0] != args.leads:
        raise SystemExit(f"REFUSED: the flush sent {sent[0]} e-mails for {args.leads} leads")
    per_lead, per_notice = 1000 / args.leads, 1000 / sent[0]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{args.leads} leads over {args.dealers} dealer(s), load average {os.getloadavg()[0]:.1f}")
    print(f"per lead:   web {web * per_lead:.2f} ms, its PostgreSQL backend {pg_user * per_lead:.2f} ms user "
          f"+ {pg_system * per_lead:.2f} ms system")
    print(f"per notice: outbox flush {worker * per_notice:.2f} ms, its backend {out_user * per_notice:.2f} ms user "
          f"+ {out_system * per_notice:.2f} ms system")


if __name__ == "__main__":
    main()
