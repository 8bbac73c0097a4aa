"""Benchmark: the sales manager's dashboard over 1,000,000 leads (200 dealers, groups of 20 rooftops).

    DJANGO_SETTINGS_MODULE=config.settings.test .venv/bin/python bench/reporting.py [--keep] [--reuse]

Creates its own database (opvolger_bench_reporting; never a test database), migrates it, fills it with
bench/generate_leads.py (COPY), then times, in-process through the whole middleware and template stack:
one dealer's 12-month dashboard, a 20-rooftop group's 12-month dashboard, and the JSON figures — server time
and the number of SQL queries of each request. Drops the database unless --keep.
"""

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.benchdb import database_drop, database_exists, database_recreate, database_url, proc_cpu  # noqa: E402

BENCH_DB = "opvolger_bench_reporting"


def backend_cpu_seconds(pid: int) -> float:
    """CPU time the PostgreSQL backend serving us has used (user + system)."""
    return sum(proc_cpu(pid))


def timed(client, url: str, runs: int) -> tuple[list[float], list[float], int]:
    """Per run after one warm-up: server wall time (ms), CPU time of app + database (ms), and the query count.

    The CPU time is what the request costs whatever else the machine is doing; on a shared box the wall time also
    contains waiting for a core."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)  # warm-up: caches, connection, template loading
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    times, cpu = [], []
    for _ in range(runs):
        with CaptureQueriesContext(connection) as queries:
            app0, db0, start = time.process_time(), backend_cpu_seconds(pid), time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - app0 + backend_cpu_seconds(pid) - db0) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
    return times, cpu, len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--dealers", type=int, default=200)
    parser.add_argument("--group-size", type=int, default=20)
    parser.add_argument("--months", type=int, default=24, help="history to spread the leads over")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="reuse a database kept by an earlier --keep run")
    parser.add_argument("--generate-only", action="store_true", help="fill the database and stop (implies --keep)")
    args = parser.parse_args()

    reuse = args.reuse and database_exists(BENCH_DB)
    if not reuse:
        database_recreate(BENCH_DB)
    os.environ["TEST_DATABASE_URL"] = database_url(BENCH_DB)
    os.environ.setdefault("TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count
    from django.test import Client
    from django.utils import timezone

    from bench.generate_leads import leads_generate, tenancy_create
    from dealers.models import DealerGroup, Membership, Role
    from leads.models import Lead
    from tests.conftest import pass_second_factor

    settings.ALLOWED_HOSTS = ["*"]
    settings.DEBUG = False
    try:
        if not reuse:
            started = time.perf_counter()
            call_command("migrate", verbosity=0)
            rng = random.Random(args.seed)
            print(f"Generating {args.leads:,} leads for {args.dealers} dealers over {args.months} months …")
            staff, generated = tenancy_create(dealers=args.dealers, group_size=args.group_size, rng=rng)
            leads_generate(staff=staff, leads=args.leads, months=args.months, now=timezone.now(), rng=rng, result=generated)
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
            print(f"Generated in {time.perf_counter() - started:.0f} s: {generated.leads:,} leads, {generated.attempts:,} "
                  f"attempts, {generated.appointments:,} appointments, {generated.escalations:,} open escalations.")

        if args.generate_only:
            args.keep = True
            return
        today = timezone.localdate()
        period = f"from={today - dt.timedelta(days=364):%Y-%m-%d}&to={today:%Y-%m-%d}"
        group = DealerGroup.objects.order_by("slug").first()
        dealer = (Lead.objects.unscoped().filter(dealer__group=group).values("dealer").annotate(n=Count("pk"))
                  .order_by("-n").first())
        manager = Membership.objects.get(dealer_id=dealer["dealer"], role=Role.MANAGER).user
        admin = Membership.objects.get(dealer__group=group, role=Role.GROUP_ADMIN).user
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM leads_lead")
            total = cursor.fetchone()[0]
            cursor.execute("SELECT count(*) FILTER (WHERE dealer_id = %s), count(*) FROM leads_lead l JOIN dealers_dealer d "
                           "ON d.id = l.dealer_id WHERE d.group_id = %s AND l.received_at >= now() - interval '365 days'",
                           [dealer["dealer"], group.pk])
            dealer_leads, group_leads = cursor.fetchone()
        print(f"\nDatabase: {total:,} leads. Period: {period.replace('&', ', ')} (12 months).")

        rows = []
        client = Client()
        client.force_login(manager)
        pass_second_factor(client, manager)  # managers see no page before their second step
        for label, url, leads in (
                ("One dealer's dashboard", f"/dashboard/?{period}", dealer_leads),
                ("One dealer's JSON figures", f"/api/v1/team/reports/summary/?{period}", dealer_leads)):
            rows.append((label, leads, *timed(client, url, args.runs)))
        client = Client()
        client.force_login(admin)
        pass_second_factor(client, admin)
        rows.append((f"Group dashboard ({args.group_size} rooftops)", group_leads,
                     *timed(client, f"/dashboard/?scope=group&{period}", args.runs)))
        load = os.getloadavg()[0]
        print(f"\nLoad average {load:.1f} on {os.cpu_count()} cores; {args.runs} runs:")
        print(f"{'request':<34} {'leads':>7} {'median ms':>10} {'min ms':>7} {'max ms':>7} {'CPU ms':>7} {'queries':>8}")
        for label, leads, times, cpu, n_queries in rows:
            print(f"{label:<34} {leads:>7,} {statistics.median(times):>10.0f} {min(times):>7.0f} {max(times):>7.0f} "
                  f"{statistics.median(cpu):>7.0f} {n_queries:>8}")
    finally:
        connection.close()
        if not args.keep:
            database_drop(BENCH_DB)
            print(f"\nDropped {BENCH_DB}.")


if __name__ == "__main__":
    main()
