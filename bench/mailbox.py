"""The dealer's mailbox end to end, on a private Dovecot (IMAPS) and a throw-away PostgreSQL database.

(1) 1,000 mails in the mailbox → every one stored and routed to a salesperson, read by the poller (the code the
    Celery task runs): mails/s. First bar: ≥ 50 mails/s.
(2) With Celery beat and a worker running (MAILBOX_POLL_SECONDS, default 15): mails delivered one by one, and for each
    the time from its arrival in the mailbox (IMAP APPEND done) to its lead in the assignee's inbox (the notice row
    that the inbox shows). Target: p99 ≤ poll interval + 5 s.
Refuses to report when a mail was lost or doubled.

Run:  .venv/bin/python bench/mailbox.py [--mails 1000] [--latency-seconds 90] [--poll-seconds 15]
"""

import argparse
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.benchdb import ROOT, bench_database, bench_env, percentile  # noqa: E402
from tests.imap_server import DovecotServer, portal_mail  # noqa: E402

DB = "opvolger_bench_mailbox"
LOGLEVEL = os.environ.get("BENCH_CELERY_LOGLEVEL", "WARNING")  # INFO shows every task the worker runs
REDIS = "redis://127.0.0.1:6379/11"  # this bench's own broker and cache: other benches use /8
BENCH_KEY = "p2mS3mH1b9n7wE7QxkN0v3Zf0qk9q3p2J8tKc1d4yXo="  # a throw-away Fernet key for the bench database only


class Refused(SystemExit):
    pass


def make_dealer(slug: str):
    from dealers.models import Dealer, DealerGroup, Membership, Role, User
    from dealers.services import policy_get
    from tests.factories import open_all_week

    group = DealerGroup.objects.create(name=f"Groep {slug}", slug=f"groep-{slug}")
    dealer = Dealer.objects.create(group=group, name=f"Autobedrijf {slug}", slug=slug)
    policy_get(dealer=dealer)
    open_all_week(dealer)
    for n, role in enumerate((Role.SALESPERSON, Role.SALESPERSON, Role.SALESPERSON, Role.MANAGER)):
        Membership.objects.create(dealer=dealer, role=role, user=User.objects.create(email=f"{slug}-{n}@bench.test"))
    return dealer


def connect(dealer, dovecot, account):
    from leads.mailbox import ServerSettings, mailbox_connect

    return mailbox_connect(dealer=dealer, server=ServerSettings(
        host=dovecot.host, port=dovecot.ssl_port, username=account[0], password=account[1], security="ssl"))


def check_once(dealer, message_ids: list[str]) -> None:
    """Every delivered mail stored once, each with one lead, routed to a salesperson: else no figures."""
    from django.db.models import Count

    from leads.models import InboundMail, Lead

    stored = list(InboundMail.objects.for_dealer(dealer).values_list("message_id", flat=True))
    missing = set(message_ids) - set(stored)
    doubled = len(stored) - len(set(stored))
    leads_per_mail = (InboundMail.objects.for_dealer(dealer).annotate(n=Count("leads"))
                      .exclude(n=1).values_list("message_id", "n"))
    unrouted = Lead.objects.for_dealer(dealer).filter(assignee__isnull=True).count()
    leads = Lead.objects.for_dealer(dealer).count()
    if missing or doubled or list(leads_per_mail) or unrouted or leads != len(message_ids):
        raise Refused(f"REFUSED: {len(missing)} mail(s) lost, {doubled} stored twice, {len(list(leads_per_mail))} "
                      f"mail(s) without exactly one lead, {unrouted} lead(s) unrouted, {leads} leads for "
                      f"{len(message_ids)} mails")


def throughput(dovecot, count: int) -> None:
    from django.db import connection

    from followup.services import mail_receive
    from leads.mailbox import mailbox_poll

    dealer = make_dealer("doorvoer")
    account = dovecot.add_user()
    message_ids = []
    started = time.perf_counter()
    imap = dovecot.client(*account)
    for n in range(count):
        message_id = f"<bench-{n}-{random.getrandbits(48):x}@dealer.test>"
        imap.append('"INBOX"', None, None, portal_mail(n, message_id=message_id))
        message_ids.append(message_id)
    imap.logout()
    print(f"delivered {count:,} mails by IMAP APPEND in {time.perf_counter() - started:.1f} s")
    mailbox = connect(dealer, dovecot, account)
    import leads.mailbox

    real_ingest, in_ingest = leads.mailbox.mail_ingest, []

    def timed_ingest(**kwargs):  # how much of the time is the mail intake's (parse, store, route), not the poller's
        t = time.perf_counter()
        try:
            return real_ingest(**kwargs)
        finally:
            in_ingest.append(time.perf_counter() - t)

    leads.mailbox.mail_ingest = timed_ingest
    started = time.perf_counter()
    polls = 0
    while True:
        result = mailbox_poll(mailbox_id=mailbox.pk, receive=mail_receive)
        polls += 1
        if result.error:
            raise Refused(f"REFUSED: the poll failed: {result.error}")
        if not result.more:
            break
    elapsed = time.perf_counter() - started
    leads.mailbox.mail_ingest = real_ingest
    check_once(dealer, message_ids)
    from django.conf import settings

    print(f"read, stored and routed {count:,} mails in {elapsed:.1f} s over {polls} poll(s), "
          f"{settings.MAILBOX_INGEST_THREADS} ingest thread(s): "
          f"{count / elapsed:,.0f} mails/s (first bar 50/s); mail_ingest per mail: mean "
          f"{1000 * sum(in_ingest) / len(in_ingest):.1f} ms, p50 {1000 * percentile(in_ingest, 50):.1f} ms "
          f"(summed over threads {sum(in_ingest):.1f} s)")
    connection.close()


def latency(dovecot, seconds: float, poll_seconds: int) -> None:
    from django.db import connection

    from leads.models import InboundMail, Mailbox, Notification, NotificationKind

    dealer = make_dealer("latentie")
    account = dovecot.add_user()
    mailbox = connect(dealer, dovecot, account)
    connection.close()
    env = bench_env(DB, REDIS_URL=REDIS, CELERY_BROKER_URL=REDIS, MAILBOX_POLL_SECONDS=str(poll_seconds),
                    MAILBOX_TLS_CA_FILE=str(dovecot.cert_path))
    schedule = Path(tempfile.mkdtemp()) / "beat-schedule"
    beat = subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", "beat", f"--loglevel={LOGLEVEL}",
                             f"--schedule={schedule}"], cwd=ROOT, env=env)
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", "worker", f"--loglevel={LOGLEVEL}",
                               "--concurrency=2", "--without-gossip", "--without-mingle"], cwd=ROOT, env=env)
    arrived: dict[str, float] = {}
    try:
        # Measure the steady state: start delivering once the worker has read the (empty) mailbox the first time.
        ready_by = time.time() + 180
        while Mailbox.objects.for_dealer(dealer).get(pk=mailbox.pk).last_success_at is None:
            if time.time() > ready_by:
                raise Refused("REFUSED: the worker did not read the mailbox within 180 s of starting")
            time.sleep(0.5)
        end = time.time() + seconds
        n = 0
        while time.time() < end:
            message_id = f"<latency-{n}-{random.getrandbits(48):x}@dealer.test>"
            dovecot.append(*account, portal_mail(n, message_id=message_id))
            arrived[message_id] = time.time()  # in the mailbox: the APPEND is acknowledged
            n += 1
            time.sleep(random.uniform(0.5, 1.5))
        deadline = time.time() + poll_seconds + 30
        while time.time() < deadline and InboundMail.objects.for_dealer(dealer).count() < len(arrived):
            time.sleep(1)
        time.sleep(2)  # the last notices
    finally:
        for process in (beat, worker):
            process.send_signal(signal.SIGTERM)
        for process in (beat, worker):
            process.wait(timeout=60)
    check_once(dealer, list(arrived))
    delays, stored = [], []
    for mail in InboundMail.objects.for_dealer(dealer).prefetch_related("leads"):
        lead = mail.leads.get()
        stored.append(lead.created_at.timestamp() - arrived[mail.message_id])
        notice = (Notification.objects.for_dealer(dealer).filter(lead=lead, kind=NotificationKind.ASSIGNED)
                  .order_by("created_at").first())
        if notice is None:
            raise Refused(f"REFUSED: lead {lead.pk} has no notice in its assignee's inbox")
        delays.append(notice.created_at.timestamp() - arrived[mail.message_id])
    print(f"arrival in the mailbox -> lead in the assignee's inbox, beat every {poll_seconds} s + worker: "
          f"p50 {percentile(delays, 50):.1f} s, p99 {percentile(delays, 99):.1f} s, max {max(delays):.1f} s "
          f"over {len(delays)} mails (target p99 <= {poll_seconds + 5} s); arrival -> lead stored: "
          f"p50 {percentile(stored, 50):.1f} s, p99 {percentile(stored, 99):.1f} s")


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mails", type=int, default=1000)
    parser.add_argument("--latency-seconds", type=float, default=90)
    parser.add_argument("--poll-seconds", type=int, default=15)
    parser.add_argument("--ingest-threads", type=int, default=None, help="MAILBOX_INGEST_THREADS (default: settings)")
    args = parser.parse_args()
    if args.ingest_threads:
        os.environ["MAILBOX_INGEST_THREADS"] = str(args.ingest_threads)
    os.environ["MAILBOX_ENCRYPTION_KEY"] = BENCH_KEY
    dovecot = DovecotServer().start()
    os.environ["MAILBOX_TLS_CA_FILE"] = str(dovecot.cert_path)
    try:
        with bench_database(DB):
            os.environ.update(bench_env(DB, REDIS_URL=REDIS, CELERY_BROKER_URL=REDIS))
            import django
            import redis

            django.setup()
            redis.Redis.from_url(REDIS).flushdb()
            print(load())
            throughput(dovecot, args.mails)
            print(load())
            if args.latency_seconds:
                latency(dovecot, args.latency_seconds, args.poll_seconds)
                print(load())
    finally:
        dovecot.stop()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")


if __name__ == "__main__":
    main()
