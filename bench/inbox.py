"""Benchmark: the inbox of a salesperson with 500 open leads — server time and the number of SQL queries.

    DJANGO_SETTINGS_MODULE=config.settings.test .venv/bin/python bench/inbox.py [--requests 50] [--leads 500]

Creates its own database (opvolger_bench_inbox; never a test database), migrates it, fills it with one dealer, one
salesperson with 500 open leads (some with hand-over notes, appointments, odd data and unread notices) and a colleague
with 10, then times GET /inbox/ in-process through the whole middleware and template stack with Django's test Client.
Reports median and p95 of the server time and the query count (which must be the same for 10 and 500 leads).
Drops the database afterwards.
"""

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.benchdb import database_drop, database_recreate, database_url, percentile  # noqa: E402

BENCH_DB = "opvolger_bench_inbox"
TARGET_MS = 50


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    os.environ["TEST_DATABASE_URL"] = database_url(BENCH_DB)
    os.environ.setdefault("TEST_REDIS_URL", "redis://127.0.0.1:6379/7")
    import django

    django.setup()


def fill(open_leads: int):
    """One dealer; `open_leads` open leads for one salesperson (plus closed history), 10 for a colleague."""
    from django.utils import timezone

    from dealers.models import Dealer, DealerGroup, Membership, Role, User
    from followup.models import Appointment
    from leads.models import Customer, EventType, Lead, LeadEvent, Notification, NotificationKind, Status

    now = timezone.now()
    group = DealerGroup.objects.create(name="Bench Groep", slug="bench-groep")
    dealer = Dealer.objects.create(group=group, name="Autobedrijf Bench", slug="bench")
    people = []
    for i, email in enumerate(("verkoper@bench.test", "collega@bench.test")):
        user = User.objects.create_user(email, "geheim-wachtwoord-1", first_name=("Sanne", "Daan")[i], last_name="de Vries")
        Membership.objects.create(user=user, dealer=dealer, role=Role.SALESPERSON)
        people.append(user)
    sales, colleague = people

    def make(owner, n, prefix, closed=False):
        customers = Customer.objects.bulk_create([
            Customer(dealer=dealer, first_name=f"{prefix}{i}", last_name="Jansen", email=f"{prefix.lower()}{i}@example.nl",
                     phone=f"+3161{i:07d}", phone_raw=f"06 1{i:07d}") for i in range(n)])
        leads = []
        for i, customer in enumerate(customers):
            due = now + dt.timedelta(minutes=(i % 120) - 30)
            leads.append(Lead(
                dealer=dealer, customer=customer, source=("marktplaats", "autoscout24", "website")[i % 3],
                contact_first_name=customer.first_name, contact_last_name=customer.last_name,  # what the cards show
                contact_email=customer.email, contact_phone=customer.phone, contact_phone_raw=customer.phone_raw,
                external_id=f"{prefix}-{i}",
                channel="web_form", kind="active", queue="sales", routed_at=now, assignee=owner,
                received_at=now - dt.timedelta(minutes=i), clock_started_at=now - dt.timedelta(minutes=i),
                first_response_due_at=due, deadline_at=due, next_action_at=due, score=i % 100,
                first_contact_at=now - dt.timedelta(minutes=1) if i % 2 else None, counted_attempts=i % 4,
                data_flags=["phone_placeholder"] if i % 17 == 0 else [],
                vehicle={"make": "Kia", "model": "Niro", "year": 2024, "price": 32950},
                status=Status.SOLD if closed else Status.NEW, closed_at=now if closed else None))
        return Lead.objects.bulk_create(leads)

    leads = make(sales, open_leads, "Klant")
    make(sales, open_leads, "Oud", closed=True)  # closed history must not slow the inbox down
    make(colleague, 10, "Ander")
    LeadEvent.objects.bulk_create([LeadEvent(dealer=dealer, lead=lead, type=EventType.HANDED_OVER, actor=colleague,
                                             text="Wil proefrijden zaterdag") for lead in leads[::10]])
    Appointment.objects.bulk_create([Appointment(dealer=dealer, lead=lead, scheduled_at=now + dt.timedelta(days=1))
                                     for lead in leads[::7]])
    Notification.objects.bulk_create([Notification(dealer=dealer, recipient=sales, lead=lead, kind=NotificationKind.ASSIGNED,
                                                   subject=f"New lead: {lead.customer_id}", body="")
                                      for lead in leads[:20]])
    return sales, colleague


def measure(client, requests: int, url: str = "/inbox/") -> tuple[list[float], list[float], int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(5):  # warm-up: template loading, first connection
        client.get(url)
    times, cpu = [], []
    for _ in range(requests):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        assert response.status_code == 200, response.status_code
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    return times, cpu, len(queries.captured_queries), len(response.content)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--leads", type=int, default=500)
    args = parser.parse_args()

    database_recreate(BENCH_DB)
    try:
        setup_django()
        from django.core.management import call_command
        from django.db import connections
        from django.test import Client

        call_command("migrate", verbosity=0)
        sales, colleague = fill(args.leads)
        with connections["default"].cursor() as cursor:
            cursor.execute("ANALYZE")  # what autovacuum does after a bulk load in production
        client = Client(SERVER_NAME="localhost")  # an allowed host, as in production
        client.force_login(sales)
        times, cpu, queries, size = measure(client, args.requests)
        from followup.views import INBOX_PAGE_SIZE

        last_page = f"/inbox/?page={-(-args.leads // INBOX_PAGE_SIZE)}"
        last_times, _cpu, last_queries, _ = measure(client, args.requests, last_page)
        few = Client(SERVER_NAME="localhost")
        few.force_login(colleague)
        _few_times, _few_cpu, few_queries, _ = measure(few, 5)
        median, p95 = statistics.median(times), percentile(times, 95)
        print(f"GET /inbox/ — salesperson with {args.leads} open leads (first page of {INBOX_PAGE_SIZE}), "
              f"{args.requests} requests; "
              f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        print(f"  server time: median {median:.1f} ms, p95 {p95:.1f} ms, min {min(times):.1f} ms, max {max(times):.1f} ms")
        print(f"  of which Django's own CPU time: median {statistics.median(cpu):.1f} ms (the rest is PostgreSQL and waiting)")
        print(f"  SQL queries: {queries} with {args.leads} leads, {few_queries} with 10 leads; response {size // 1024} KiB")
        print(f"  last page ({last_page}): median {statistics.median(last_times):.1f} ms, "
              f"p95 {percentile(last_times, 95):.1f} ms, {last_queries} queries")
        ok = p95 <= TARGET_MS and queries == few_queries
        print(f"  target: p95 ≤ {TARGET_MS} ms and a fixed query count — {'met' if ok else 'NOT met'}")
        connections.close_all()
        return 0 if ok else 1
    finally:
        database_drop(BENCH_DB)


if __name__ == "__main__":
    sys.exit(main())
