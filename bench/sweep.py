"""The escalation sweep at scale: 1,000,000 open leads of which 10,000 are due.

Measures (1) one sweep escalating all due leads, (2) a sweep when nothing is due (the partial index keeps it
cheap), and (3) lateness with Celery beat and a worker running: how long after its deadline a step fires.

Run:  .venv/bin/python bench/sweep.py [--leads 1000000] [--due 10000] [--lateness-seconds 100]
"""

import argparse
import datetime as dt
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.benchdb import ROOT, bench_database, bench_env, percentile, setup_django  # noqa: E402

DB = "opvolger_bench_sweep"
DEALERS = 200


def populate(total: int, due: int) -> None:
    """200 dealers with two salespeople and a manager each; leads inserted set-wise in SQL."""
    from django.db import connection

    from dealers.models import Dealer, DealerGroup, Membership, Role, User
    from dealers.services import policy_get
    from leads.models import Customer

    group = DealerGroup.objects.create(name="Bench Groep", slug="bench-groep")
    dealers = Dealer.objects.bulk_create([Dealer(group=group, name=f"Bench {i}", slug=f"bench-{i}") for i in range(DEALERS)])
    users = User.objects.bulk_create([User(email=f"u{i}-{r}@bench.test") for i in range(DEALERS) for r in range(3)])
    memberships, customers = [], []
    for i, dealer in enumerate(dealers):
        policy_get(dealer=dealer)
        for r, role in enumerate((Role.SALESPERSON, Role.SALESPERSON, Role.MANAGER)):
            memberships.append(Membership(dealer=dealer, user=users[i * 3 + r], role=role))
        customers.append(Customer(dealer=dealer, first_name="Klant", email=f"klant{i}@example.nl"))
    Membership.objects.bulk_create(memberships)
    customers = Customer.objects.bulk_create(customers)
    dealer_ids = [d.pk for d in dealers]
    customer_ids = [c.pk for c in customers]
    salesperson_ids = [users[i * 3].pk for i in range(DEALERS)]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO leads_lead (id, dealer_id, customer_id, source, channel, reason, kind, status, queue, routed_at,
                assignee_id, received_at, received_at_raw, created_at, clock_started_at, first_response_due_at,
                attempt_count, counted_attempts, verified_attempts, deadline_at, next_action_at, escalation_level,
                close_reason, manager_flag,
                vehicle, trade_in, message, data_flags, bant_budget, bant_authority, bant_need, bant_timeline, score,
                returning_customer, payload)
            SELECT gen_random_uuid(), (%(dealers)s)[1 + g %% %(n)s], (%(customers)s)[1 + g %% %(n)s], 'website', 'web_form', '',
                'active', 'attempted', 'sales', now(), (%(sales)s)[1 + g %% %(n)s], now() - interval '1 day', '', now(),
                now() - interval '1 day', now() - interval '1 day', 1, 1, 0, d.deadline, d.deadline, 0, '', '',
                '{}', '{}', '', '[]', 0, 0, 0, 0, 0, false, '{}'
            FROM generate_series(1, %(total)s) AS g,
                 LATERAL (SELECT CASE WHEN g <= %(due)s THEN now() - interval '1 minute'
                                      ELSE now() + (g %% 7 + 1) * interval '1 day' END AS deadline) AS d
            """,
            {"dealers": dealer_ids, "customers": customer_ids, "sales": salesperson_ids, "n": DEALERS, "total": total,
             "due": due},
        )
        cursor.execute("ANALYZE leads_lead")


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def lateness(seconds: float) -> dict:
    """With beat (default 30 s interval) and a worker running, deadlines spread over the next minute."""
    from django.db import connection
    from django.utils import timezone

    from followup.models import Escalation
    from leads.models import Lead

    now = timezone.now()
    later = Lead.objects.unscoped().filter(next_action_at__gt=now + dt.timedelta(days=1))
    sample = list(later.values_list("pk", flat=True)[:300])
    for i, pk in enumerate(sample):
        due = now + dt.timedelta(seconds=5 + 60 * i / len(sample))
        Lead.objects.unscoped().filter(pk=pk).update(deadline_at=due, next_action_at=due, escalation_level=0)
    connection.close()
    env = bench_env(DB, CELERY_BROKER_URL="redis://127.0.0.1:6379/8")
    schedule = Path(tempfile.mkdtemp()) / "beat-schedule"
    beat = subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel=WARNING",
                             f"--schedule={schedule}"], cwd=ROOT, env=env)
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=WARNING",
                               "--concurrency=1", "--without-gossip", "--without-mingle"], cwd=ROOT, env=env)
    try:
        time.sleep(seconds)
    finally:
        for process in (beat, worker):
            process.send_signal(signal.SIGTERM)
        for process in (beat, worker):
            process.wait(timeout=60)
    rows = Escalation.objects.unscoped().filter(lead_id__in=sample, level=1).values_list("at", "due_at")
    delays = [(at - due).total_seconds() for at, due in rows]
    return {"n": len(delays), "of": len(sample), "p50": percentile(delays, 50), "p99": percentile(delays, 99),
            "max": max(delays) if delays else float("nan")}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--lateness-seconds", type=float, default=100)
    args = parser.parse_args()
    with bench_database(DB):
        setup_django(DB)
        import redis

        redis.Redis.from_url("redis://127.0.0.1:6379/8").flushdb()
        from django.db import connection
        from django.utils import timezone

        from followup.services import followup_sweep

        seconds, _ = timed(lambda: populate(args.leads, args.due))
        print(f"populated {args.leads:,} open leads ({args.due:,} due) in {seconds:.1f} s")
        now = timezone.now()
        sweep_seconds, actions = timed(lambda: followup_sweep(now=now))
        print(f"sweep escalating every due lead: {len(actions):,} escalations in {sweep_seconds:.2f} s "
              f"({len(actions) / sweep_seconds:,.0f} leads/s)")
        idle = []
        for _ in range(30):
            t, result = timed(lambda: followup_sweep(now=now))
            assert result == []
            idle.append(t * 1000)
        print(f"sweep with nothing due: median {percentile(idle, 50):.2f} ms, p95 {percentile(idle, 95):.2f} ms (30 runs)")
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN SELECT id, next_action_at FROM leads_lead WHERE closed_at IS NULL "
                           "AND next_action_at <= now() ORDER BY next_action_at LIMIT 500")
            plan = " | ".join(row[0].strip() for row in cursor.fetchall()[:3])
        print(f"plan: {plan}")
        connection.close()
        if args.lateness_seconds:
            late = lateness(args.lateness_seconds)
            print(f"lateness with beat (every 30 s) + worker: p50 {late['p50']:.1f} s, p99 {late['p99']:.1f} s, "
                  f"max {late['max']:.1f} s over {late['n']} of {late['of']} deadlines")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")


if __name__ == "__main__":
    main()
