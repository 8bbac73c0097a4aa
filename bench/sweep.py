"""The escalation sweep at scale: 1,000,000 open leads of which 10,000 are due (the Monday-morning burst).

Measures (1) one burst of sweepers escalating every due lead, (2) a sweep when nothing is due (the partial index keeps
it cheap; its plan and execution time are printed), and (3) lateness with Celery beat and a worker running: how long
after its deadline a step fires. It refuses to print a figure when a step was missed or doubled.

Run:  .venv/bin/python bench/sweep.py [--leads 1000000] [--due 10000] [--sweepers 1] [--steps remind|all]
                                      [--lateness-seconds 100] [--profile]
`--steps all` spreads the due leads over the three steps (reminder, manager alert, reassignment) instead of reminders
only; `--sweepers 2` runs two sweeper processes side by side on the same due set. `--profile` runs the burst in this
process under cProfile (one sweeper) and prints where its time went.
"""

import argparse
import datetime as dt
import multiprocessing
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
REDIS = "redis://127.0.0.1:6379/12"  # broker and cache of this bench alone: it is flushed at the start
DEALERS = 200


class Refused(Exception):
    """A step was missed or doubled: the figures would measure the wrong thing."""


def populate(total: int, due: int, steps: str) -> None:
    """200 dealers with two salespeople and a manager each; leads inserted set-wise in SQL."""
    from django.db import connection

    from dealers.models import Dealer, DealerGroup, Membership, Role, User
    from dealers.services import policy_get
    from leads.models import Customer
    from routing.services import open_lead_counts_fold_piled_up

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
                close_reason, manager_flag, sweep_failures, sweep_error,
                vehicle, trade_in, message, data_flags, bant_budget, bant_authority, bant_need, bant_timeline, score,
                returning_customer, needs_review, payload)
            SELECT gen_random_uuid(), (%(dealers)s)[1 + g %% %(n)s], (%(customers)s)[1 + g %% %(n)s], 'website', 'web_form', '',
                'active', 'attempted', 'sales', now(), (%(sales)s)[1 + g %% %(n)s], now() - interval '1 day', '', now(),
                now() - interval '1 day', now() - interval '1 day', 1, 1, 0, d.deadline, d.deadline,
                CASE WHEN %(all_steps)s AND g <= %(due)s THEN g %% 3 ELSE 0 END, '', '', 0, '',
                '{}', '{}', '', '[]', 0, 0, 0, 0, 0, false, false, '{}'
            FROM generate_series(1, %(total)s) AS g,
                 LATERAL (SELECT CASE WHEN g <= %(due)s THEN now() - interval '1 minute'
                                      ELSE now() + (g %% 7 + 1) * interval '1 day' END AS deadline) AS d
            """,
            {"dealers": dealer_ids, "customers": customer_ids, "sales": salesperson_ids, "n": DEALERS, "total": total,
             "due": due, "all_steps": steps == "all"},
        )
    open_lead_counts_fold_piled_up()  # the triggers' rows a lead, folded to one a person, as the hourly task does
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead")
        # What autovacuum (off on this machine) does after such a mass delete: otherwise every read of a person's count
        # walks the million dead index entries the fold left.
        cursor.execute("VACUUM ANALYZE routing_openleadcount")


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _one_sweeper(now: dt.datetime) -> list:
    from followup.services import followup_sweep

    return [(a.lead_id, a.level) for a in followup_sweep(now=now)]


def burst(now: dt.datetime, sweepers: int, profile: bool = False) -> tuple[float, list]:
    """Every sweeper process runs one pass over the same due set, side by side; wall time of the whole burst."""
    from django.db import connections

    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        seconds, result = timed(lambda: profiler.runcall(_one_sweeper, now))
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return seconds, result
    connections.close_all()  # the children open their own
    with multiprocessing.get_context("fork").Pool(sweepers) as pool:
        seconds, results = timed(lambda: pool.map(_one_sweeper, [now] * sweepers))
    return seconds, [a for result in results for a in result]


def burst_check(due_before: dict, actions: list, now: dt.datetime) -> None:
    """Each due lead: exactly its one step on record, once on its timeline, its notices once, and moved on."""
    from django.db.models import Count

    from followup.models import Escalation
    from leads.models import Lead, LeadEvent, Notification

    problems = []
    acted = {}
    for lead_id, _level in actions:
        acted[lead_id] = acted.get(lead_id, 0) + 1
    doubled_in_results = sum(1 for n in acted.values() if n > 1)
    if doubled_in_results:
        problems.append(f"{doubled_in_results} leads reported twice by the sweepers")
    if set(acted) != {str(pk) for pk in due_before}:
        problems.append(f"{len(due_before) - len(set(acted) & {str(pk) for pk in due_before})} due leads not escalated")
    per_lead = dict(Escalation.objects.unscoped().values_list("lead_id").annotate(n=Count("id")).values_list("lead_id", "n"))
    if any(n != 1 for n in per_lead.values()) or set(per_lead) != set(due_before):
        problems.append(f"escalation rows: {sum(per_lead.values())} for {len(due_before)} due leads")
    events = LeadEvent.objects.unscoped().filter(type="escalation").count()
    if events != len(due_before):
        problems.append(f"{events} escalation timeline entries for {len(due_before)} due leads")
    # A reminder goes to the assignee, an alert to the one manager, a reassignment to the new owner and the manager.
    expected = sum((1, 1, 2)[level] for level in due_before.values())
    notices = Notification.objects.unscoped().count()
    if notices != expected:
        problems.append(f"{notices} notices where {expected} are owed")
    still_due = Lead.objects.unscoped().filter(pk__in=list(due_before), next_action_at__lte=now).count()
    if still_due:
        problems.append(f"{still_due} escalated leads still due")
    if problems:
        raise Refused("; ".join(problems))


def lateness(seconds: float) -> dict:
    """With beat (FOLLOWUP_SWEEP_SECONDS, default 5 s) and the workers running (the outbox still sending the burst's
    notices on its own), deadlines spread over the next minute."""
    from django.db import connection
    from django.utils import timezone

    from followup.models import Escalation
    from leads.models import Lead

    connection.close()
    env = bench_env(DB, CELERY_BROKER_URL=REDIS, REDIS_URL=REDIS)
    schedule = Path(tempfile.mkdtemp()) / "beat-schedule"
    beat = subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel=WARNING",
                             f"--schedule={schedule}"], cwd=ROOT, env=env)
    # One worker for the default queue (the outbox: after the burst it sends 10,000 e-mails), one for the timers.
    workers = [subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "-n", f"{queue}@%h",
                                 f"--loglevel={os.environ.get('BENCH_WORKER_LOGLEVEL', 'WARNING')}",
                                 "--concurrency=1", "--without-gossip", "--without-mingle"], cwd=ROOT, env=env)
               for queue in ("celery", "timers")]
    try:
        # Deadlines are set once the worker answers and beat has ticked: a running system's lateness, not a cold start.
        from config.celery_app import app

        booted = time.monotonic()
        while len(app.control.ping(timeout=1.0)) < len(workers):
            if time.monotonic() - booted > 300:
                raise Refused("lateness: the worker did not start within 5 minutes")
        time.sleep(2 * float(os.environ.get("FOLLOWUP_SWEEP_SECONDS", "5")))
        print(f"worker and beat up after {time.monotonic() - booted:.0f} s")
        now = timezone.now()
        later = Lead.objects.unscoped().filter(next_action_at__gt=now + dt.timedelta(days=1))
        sample = list(later.values_list("pk", flat=True)[:300])
        for i, pk in enumerate(sample):
            due = now + dt.timedelta(seconds=5 + 60 * i / len(sample))
            Lead.objects.unscoped().filter(pk=pk).update(deadline_at=due, next_action_at=due, escalation_level=0)
        time.sleep(seconds)
    finally:
        for process in (beat, *workers):
            process.send_signal(signal.SIGTERM)
        for process in (beat, *workers):
            process.wait(timeout=60)
    rows = list(Escalation.objects.unscoped().filter(lead_id__in=sample, level=1).values_list("lead_id", "at", "due_at"))
    if len({r[0] for r in rows}) != len(rows):
        raise Refused(f"lateness: {len(rows) - len({r[0] for r in rows})} reminders doubled")
    if len(rows) != len(sample):
        raise Refused(f"lateness: {len(sample) - len(rows)} of {len(sample)} deadlines never fired in {seconds:.0f} s")
    delays = [(at - due).total_seconds() for _pk, at, due in rows]
    return {"n": len(delays), "of": len(sample), "p50": percentile(delays, 50), "p99": percentile(delays, 99),
            "max": max(delays)}


def nothing_due_plan(now: dt.datetime) -> tuple[str, str]:
    """The claim's plan and its measured execution time on the full table, when nothing is due."""
    from django.db import connection, transaction

    from followup.services import CLAIM_SQL

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + CLAIM_SQL, {"now": now, "limit": 500, "pks": None})
        rows = [row[0].strip() for row in cursor.fetchall()]
    plan = " | ".join(r for r in rows if "Scan" in r or "Index Cond" in r)
    execution = next((r for r in rows if r.startswith("Execution Time")), "")
    return plan, execution


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--sweepers", type=int, default=1)
    parser.add_argument("--steps", choices=["remind", "all"], default="remind")
    parser.add_argument("--lateness-seconds", type=float, default=100)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with bench_database(DB):
        setup_django(DB, CELERY_BROKER_URL=REDIS, REDIS_URL=REDIS)
        import redis

        redis.Redis.from_url(REDIS).flushdb()
        from django.db import connection
        from django.utils import timezone

        from followup.services import followup_sweep
        from leads.models import Lead

        seconds, _ = timed(lambda: populate(args.leads, args.due, args.steps))
        print(f"populated {args.leads:,} open leads ({args.due:,} due, steps: {args.steps}) in {seconds:.1f} s")
        now = timezone.now()
        due_before = dict(Lead.objects.unscoped().filter(next_action_at__lte=now).values_list("pk", "escalation_level"))
        sweep_seconds, actions = burst(now, args.sweepers, args.profile)
        try:
            burst_check(due_before, actions, now)
        except Refused as refused:
            sys.exit(f"REFUSED: {refused}")
        print(f"burst, {1 if args.profile else args.sweepers} sweeper(s){' under cProfile' if args.profile else ''}: "
              f"{len(actions):,} escalations in {sweep_seconds:.2f} s "
              f"({len(actions) / sweep_seconds:,.0f} leads/s); each step once (checked)")
        idle = []
        for _ in range(30):
            t, result = timed(lambda: followup_sweep(now=now))
            if result:
                sys.exit(f"REFUSED: a pass with nothing due escalated {len(result)} leads")
            idle.append(t * 1000)
        print(f"sweep with nothing due: median {percentile(idle, 50):.2f} ms, p95 {percentile(idle, 95):.2f} ms (30 runs, "
              f"the whole pass incl. the unrouted retry)")
        plan, execution = nothing_due_plan(now)
        print(f"claim plan with nothing due: {plan} | {execution}")
        connection.close()
        if args.lateness_seconds:
            try:
                late = lateness(args.lateness_seconds)
            except Refused as refused:
                sys.exit(f"REFUSED: {refused}")
            print(f"lateness with beat (every {os.environ.get('FOLLOWUP_SWEEP_SECONDS', '5')} s) + a timers worker: "
                  f"p50 {late['p50']:.1f} s, p99 {late['p99']:.1f} s, max {late['max']:.1f} s "
                  f"over {late['n']} of {late['of']} deadlines, none doubled")
    load = os.getloadavg()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    main()
