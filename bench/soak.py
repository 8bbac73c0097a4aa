"""The multi-node soak: a steady stream of leads into the whole cluster while nodes die, then every lead counted.

It starts its own cluster (bench/cluster.py: PostgreSQL primary + streaming replica, PgBouncer in transaction
pooling, haproxy in front of two gunicorn nodes, two Celery workers, two beats, Redis, Dovecot) and a Web Push
service of its own (tests/push_service.py), then for --minutes:
- an open-loop generator sends --rate leads per second through the proxy: 9 in 10 as the portal's JSON with an
  Idempotency-Key (a connection error or a 5xx is retried with the same key, as a portal does), 1 in 10 as a mail
  into the dealer's mailbox, which beat has the workers poll;
- the dealer's policy has short timers (first response 2 min, remind at once, manager after 2 min, reassign after
  5 min), so the sweep escalates throughout, and every salesperson's phone is subscribed to the push service;
- the manager polls the dashboard every 5 s (its figures come from the replica);
- at 40% of the run one web node, one worker and one beat are killed with SIGKILL (the whole process group, as a
  machine dies) and started again 10 s later, as a supervisor would.
Then it drains (mails read, beats stopped, outbox flushed) and checks: every lead sent exists exactly once, every
mail is one lead, no escalation step twice for a lead and deadline, every notice exactly as often as its step,
every push delivered once, the outbox empty. It refuses to print figures when a check fails or an answer was not
the expected one. Everything is torn down at the end, also on Ctrl-C or a failure.

Run (as root: PostgreSQL and PgBouncer run as the `postgres` user):
    .venv/bin/python bench/soak.py [--minutes 10] [--rate 20]
"""

import argparse
import collections
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import queue
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.benchdb import percentile, statuses_or_exit  # noqa: E402
from bench.cluster import PRIMARY_PORT, PROXY_PORT, REPLICA_PORT, Cluster  # noqa: E402

MAIL_EVERY = 10  # every 10th lead arrives by e-mail
SALESPEOPLE = 6
RETRY_FOR = 120.0  # seconds a portal keeps retrying one lead
TRANSIENT = {"connection error", 502, 503, 504}
RUN = uuid.uuid4().hex[:8]


class Refused(SystemExit):
    pass


def load() -> str:
    """`uptime`'s load averages, at a UTC time (Django sets TZ to Amsterdam in this process)."""
    return f"{dt.datetime.now(dt.UTC):%H:%M:%S} UTC load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


# --- set-up ---------------------------------------------------------------------------------------------------------
def fixture(cluster: Cluster, service) -> dict:
    """One dealer open all week with short timers, six salespeople with a phone each, a manager signed in with both
    steps, a portal key and the dealer's own mailbox on the private Dovecot."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from dealers.models import Dealer, DealerGroup, FollowUpPolicy, Membership, Role, User
    from dealers.services import api_key_create, policy_get
    from leads.mailbox import ServerSettings, mailbox_connect
    from leads.services import push_subscription_save
    from tests.factories import open_all_week

    group = DealerGroup.objects.create(name="Groep Soak", slug="groep-soak")
    dealer = Dealer.objects.create(group=group, name="Autobedrijf Soak", slug="soak")
    policy_get(dealer=dealer)
    FollowUpPolicy.objects.filter(dealer=dealer).update(first_response_minutes=2, remind_after_minutes=0,
                                                        manager_alert_after_minutes=2, reassign_after_minutes=5)
    open_all_week(dealer)
    for n in range(SALESPEOPLE):
        user = User.objects.create(email=f"verkoper{n}@soak.test", first_name="Verkoper", last_name=str(n))
        Membership.objects.create(dealer=dealer, user=user, role=Role.SALESPERSON)
        phone = service.subscription_json(service.subscribe())
        push_subscription_save(user=user, endpoint=phone["endpoint"], p256dh=phone["keys"]["p256dh"],
                               auth=phone["keys"]["auth"], user_agent="soak")
    manager = User.objects.create(email="manager@soak.test", first_name="Marieke", last_name="de Boer")
    manager.set_password("soak-" + RUN)
    manager.save()
    Membership.objects.create(dealer=dealer, user=manager, role=Role.MANAGER)
    device = TOTPDevice.objects.create(user=manager, name="Authenticator app", confirmed=True)
    session = SessionStore()  # signed in with password and second step, as the login pages leave it
    session.update({SESSION_KEY: str(manager.pk), BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                    HASH_SESSION_KEY: manager.get_session_auth_hash(), DEVICE_ID_SESSION_KEY: device.persistent_id})
    session.create()
    raw_key = api_key_create(dealer=dealer, source="website", rate_per_minute=10**7)[1]
    account = cluster.dovecot.add_user()
    mailbox_connect(dealer=dealer, server=ServerSettings(host=cluster.dovecot.host, port=cluster.dovecot.ssl_port,
                                                         username=account[0], password=account[1], security="ssl"))
    connection.close()
    return {"dealer_id": dealer.pk, "key": raw_key, "session": session.session_key, "account": account}


# --- load -----------------------------------------------------------------------------------------------------------
class Generator:
    """Open loop: lead i is due at start + i/rate whatever the answers before it; senders take the due ones."""

    def __init__(self, *, cluster: Cluster, key: str, account, rate: float, seconds: float, senders: int = 32):
        self.cluster, self.key, self.account, self.rate, self.seconds = cluster, key, account, rate, seconds
        self.senders = senders
        self.due: queue.Queue = queue.Queue()
        self.lock = threading.Lock()
        self.json: dict[str, dict] = {}  # external_id -> {final status, lead id, latency, attempts}
        self.mails: dict[str, float] = {}  # Message-ID -> when the mailbox acknowledged it
        self.attempts = collections.Counter()  # every answer, retries included
        self.failed_mails: list[str] = []
        self.done_at = 0.0

    def run(self) -> None:
        threads = [threading.Thread(target=self._sender, daemon=True) for _ in range(self.senders)]
        for t in threads:
            t.start()
        self.started = time.monotonic()
        count = int(self.rate * self.seconds)
        for i in range(count):
            time.sleep(max(0.0, self.started + i / self.rate - time.monotonic()))
            self.due.put((i, self.started + i / self.rate))
        for _ in threads:
            self.due.put(None)
        for t in threads:
            t.join()
        self.done_at = time.monotonic()

    def _sender(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", PROXY_PORT, timeout=30)
        while (job := self.due.get()) is not None:
            i, scheduled = job
            if i % MAIL_EVERY == MAIL_EVERY - 1:
                self._mail(i)
            else:
                conn = self._post(conn, i, scheduled)
        conn.close()

    def _post(self, conn, i: int, scheduled: float):
        external_id = f"SOAK-{RUN}-{i}"
        body = json.dumps({"external_id": external_id, "channel": "web_form",
                           "customer": {"first_name": "Sanne", "last_name": f"Visser {i}", "phone": "06 12345678",
                                        "email": f"klant{i}.{RUN}@soak.example.nl"},
                           "vehicle": {"make": "Kia", "model": "Niro"}})
        headers = {"Content-Type": "application/json", "Authorization": f"Api-Key {self.key}",
                   "Idempotency-Key": f"soak-{RUN}-{i}"}
        attempts, first_try = 0, None
        while True:
            attempts += 1
            sent = time.monotonic()
            try:
                conn.request("POST", "/api/v1/leads/", body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status, payload = "connection error", b""
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", PROXY_PORT, timeout=30)
            if first_try is None and status in (200, 201):
                first_try = time.monotonic() - sent
            with self.lock:
                self.attempts[status] += 1
            if status in TRANSIENT and time.monotonic() < scheduled + RETRY_FOR:
                time.sleep(0.5)
                continue
            break
        record = {"status": status, "attempts": attempts, "latency": time.monotonic() - scheduled, "first_try": first_try}
        if status in (200, 201):
            record["lead"] = json.loads(payload)["id"]
        with self.lock:
            self.json[external_id] = record
        return conn

    def _mail(self, i: int) -> None:
        from tests.imap_server import portal_mail

        message_id = f"<soak-{RUN}-{i}@dealer.test>"
        for _attempt in range(5):
            try:
                self.cluster.dovecot.append(*self.account, portal_mail(i, message_id=message_id))
            except Exception:  # noqa: BLE001 (a mail server hiccup: try again, as a mail server would)
                time.sleep(1)
                continue
            with self.lock:
                self.mails[message_id] = time.time()
            return
        with self.lock:
            self.failed_mails.append(message_id)


class DashboardPoller(threading.Thread):
    """The sales manager keeps the dashboard open: a reload every 5 s, through the proxy, signed in."""

    def __init__(self, session_key: str):
        super().__init__(daemon=True)
        self.cookie = f"sessionid={session_key}"
        self.stop = threading.Event()
        self.final = collections.Counter()
        self.transient = collections.Counter()
        self.latencies: list[float] = []

    def run(self) -> None:
        while not self.stop.wait(5):
            started = time.monotonic()
            for _attempt in range(3):
                conn = http.client.HTTPConnection("127.0.0.1", PROXY_PORT, timeout=30)
                try:
                    conn.request("GET", "/dashboard/", headers={"Cookie": self.cookie})
                    response = conn.getresponse()
                    response.read()
                    status = response.status
                except (OSError, http.client.HTTPException):
                    status = "connection error"
                finally:
                    conn.close()
                if status not in TRANSIENT:
                    break
                self.transient[status] += 1
                time.sleep(1)
            self.final[status] += 1
            self.latencies.append(time.monotonic() - started)


class Sampler(threading.Thread):
    """Replica lag every second (from the primary's pg_stat_replication) and every process's RSS every 5 s."""

    def __init__(self, cluster: Cluster):
        super().__init__(daemon=True)
        self.cluster = cluster
        self.stop = threading.Event()
        self.lag_seconds: list[float] = []
        self.lag_bytes: list[float] = []
        self.rss_process: dict[str, int] = collections.defaultdict(int)  # kind -> max RSS of one process (kB)
        self.rss_node: dict[str, int] = collections.defaultdict(int)  # kind -> max RSS of one node, all its processes

    def run(self) -> None:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=PRIMARY_PORT, user="postgres", dbname="postgres")
        conn.autocommit = True
        tick = 0
        while not self.stop.wait(1):
            with conn.cursor() as cur:
                cur.execute("SELECT COALESCE(EXTRACT(EPOCH FROM replay_lag), 0), "
                            "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) FROM pg_stat_replication")
                row = cur.fetchone()
            if row:
                self.lag_seconds.append(float(row[0]))
                self.lag_bytes.append(float(row[1] or 0))
            if tick % 5 == 0:
                self.sample_rss()
            tick += 1
        conn.close()

    def sample_rss(self) -> None:
        for service in list(self.cluster.services.values()):
            total = 0
            for pid in service.pids():
                with contextlib.suppress(OSError):
                    for line in open(f"/proc/{pid}/status"):  # noqa: SIM115
                        if line.startswith("VmRSS:"):
                            kb = int(line.split()[1])
                            total += kb
                            self.rss_process[service.kind] = max(self.rss_process[service.kind], kb)
            self.rss_node[service.kind] = max(self.rss_node[service.kind], total)
        for line in open("/proc/self/status"):  # noqa: SIM115
            if line.startswith("VmRSS:"):  # this process: the load generator, the push service, the samplers
                kb = int(line.split()[1])
                self.rss_process["soak driver"] = self.rss_node["soak driver"] = max(self.rss_process["soak driver"], kb)


def replica_reads() -> tuple[int, int]:
    """Transactions committed on the replica, and scans of the leads table there: what the dashboard read from it."""
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=REPLICA_PORT, user="postgres", dbname="opvolger")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = 'opvolger'")
            commits = cur.fetchone()[0]
            cur.execute("SELECT COALESCE(seq_scan, 0) + COALESCE(idx_scan, 0) FROM pg_stat_user_tables "
                        "WHERE relname = 'leads_lead'")
            scans = cur.fetchone()[0]
        return commits, scans
    finally:
        conn.close()


# --- drain and checks -----------------------------------------------------------------------------------------------
def owed() -> dict:
    from leads.models import DeliveryStatus, Notification, PushDelivery, PushDeliveryStatus, PushStatus

    notices = Notification.objects.unscoped()
    return {"e-mails": notices.filter(email_status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING]).count(),
            "pushes to fan out": notices.filter(push_status=PushStatus.PENDING).count(),
            "push deliveries": PushDelivery.objects.unscoped().filter(
                status__in=[PushDeliveryStatus.PENDING, PushDeliveryStatus.SENDING]).count()}


def drain(cluster: Cluster, generator: Generator, dealer_id: int) -> dict:
    """Mails read, then the beats stopped (no new escalations) and the outbox flushed until nothing is owed."""
    from config.celery_app import app
    from leads.models import InboundMail

    deadline = time.monotonic() + cluster.mailbox_poll_seconds * 4 + 60
    while InboundMail.objects.for_dealer(dealer_id).count() < len(generator.mails) and time.monotonic() < deadline:
        time.sleep(1)
    for name in ("beat1", "beat2"):
        cluster.services[name].stop()
    time.sleep(cluster.sweep_seconds + 2)  # a sweep already queued finishes
    deadline, left = time.monotonic() + 180, owed()
    while any(left.values()) and time.monotonic() < deadline:
        app.send_task("leads.tasks.outbox_flush")  # what beat does every 30 s
        time.sleep(5)
        left = owed()
    time.sleep(3)  # a push sent twice would arrive now
    return left


def check(generator: Generator, poller: DashboardPoller, service, dealer_id: int, left: dict) -> dict:
    from django.db import connection

    from followup.models import Escalation
    from leads.models import InboundMail, Lead, Notification, PushDelivery, PushDeliveryStatus
    from leads.services import push_payload

    problems = []
    if generator.failed_mails:
        problems.append(f"{len(generator.failed_mails)} mail(s) could not be delivered to the mailbox")
    leads = Lead.objects.for_dealer(dealer_id)
    stored = collections.Counter(leads.filter(external_id__startswith=f"SOAK-{RUN}-").values_list("external_id", flat=True))
    lost = [e for e in generator.json if stored[e] == 0]
    doubled = [e for e, n in stored.items() if n > 1]
    stray = [e for e in stored if e not in generator.json]  # any other lead shows in the total below
    mails = collections.Counter(InboundMail.objects.for_dealer(dealer_id).values_list("message_id", flat=True))
    mails_lost = [m for m in generator.mails if mails[m] == 0]
    mails_doubled = [m for m, n in mails.items() if n > 1]
    from django.db.models import Count

    mail_leads = list(InboundMail.objects.for_dealer(dealer_id).annotate(n=Count("leads")).exclude(n=1)
                      .values_list("message_id", "n"))
    total = leads.count()
    expected_total = len(generator.json) + len(generator.mails)
    if lost or doubled or stray or mails_lost or mails_doubled or mail_leads or total != expected_total:
        problems.append(f"leads: {len(lost)} lost, {len(doubled)} doubled, {len(stray)} unknown; mails: {len(mails_lost)} "
                        f"lost, {len(mails_doubled)} stored twice, {len(mail_leads)} without exactly one lead; {total} "
                        f"leads stored for {expected_total} sent")
    lead_table, notice_table, escalation_table = Lead._meta.db_table, Notification._meta.db_table, Escalation._meta.db_table
    with connection.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM (SELECT 1 FROM {escalation_table} GROUP BY lead_id, due_at, action "
                    "HAVING count(*) > 1) d")
        escalations_doubled = cur.fetchone()[0]
        cur.execute(f"SELECT action, count(*) FROM {escalation_table} GROUP BY action")
        escalations = dict(cur.fetchall())
        # Per lead: each notice kind against the steps that owe it (one manager). The round-robin's pick gets an
        # "assigned" notice, the first and each reassignment's; a reassignment also tells the manager.
        cur.execute(f"""
            WITH e AS (SELECT lead_id, count(*) FILTER (WHERE action = 'remind') AS remind,
                              count(*) FILTER (WHERE action = 'alert_manager') AS alert,
                              count(*) FILTER (WHERE action = 'reassign') AS reassign
                       FROM {escalation_table} GROUP BY lead_id),
                 n AS (SELECT lead_id, count(*) FILTER (WHERE kind = 'assigned') AS assigned,
                              count(*) FILTER (WHERE kind = 'reminder') AS reminder,
                              count(*) FILTER (WHERE kind = 'manager_alert') AS alert,
                              count(*) FILTER (WHERE kind = 'reassigned') AS reassigned
                       FROM {notice_table} WHERE lead_id IS NOT NULL GROUP BY lead_id)
            SELECT COALESCE(n.assigned, 0) - 1 - COALESCE(e.reassign, 0), COALESCE(n.reminder, 0) - COALESCE(e.remind, 0),
                   COALESCE(n.alert, 0) - COALESCE(e.alert, 0), COALESCE(n.reassigned, 0) - COALESCE(e.reassign, 0)
            FROM {lead_table} l LEFT JOIN e ON e.lead_id = l.id LEFT JOIN n ON n.lead_id = l.id
            WHERE l.dealer_id = %s""", [dealer_id])
        rows = cur.fetchall()
        cur.execute(f"SELECT kind, count(*) FROM {notice_table} GROUP BY kind")
        notices = dict(cur.fetchall())
    kinds = ("assigned", "reminder", "manager_alert", "reassigned")
    notices_doubled = collections.Counter(kinds[i] for row in rows for i, d in enumerate(row) if d > 0)
    notices_missing = collections.Counter(kinds[i] for row in rows for i, d in enumerate(row) if d < 0)
    if escalations_doubled or notices_doubled or notices_missing:
        problems.append(f"{escalations_doubled} escalation step(s) twice for a lead and deadline; notices: leads with "
                        f"more than their steps owe {dict(notices_doubled)}, with fewer {dict(notices_missing)}")
    # Pushes: what the push service decrypted against the deliveries the outbox recorded as sent, per phone and notice.
    expected_pushes = collections.Counter()
    for delivery in (PushDelivery.objects.unscoped().filter(status=PushDeliveryStatus.SENT)
                     .select_related("subscription", "notification__lead", "notification__dealer")):
        p = push_payload(delivery.notification)
        # Not the message's kind: for a reassignment it depends on who holds the lead now, not when it was sent.
        expected_pushes[(delivery.subscription.endpoint.rsplit("/", 1)[1], p["lead"], p["title"])] += 1
    received = collections.Counter((r.token, r.message["lead"], r.message["title"]) for r in service.received)
    pushes_doubled = sum((received - expected_pushes).values())
    pushes_missing = sum((expected_pushes - received).values())
    refused = [r for r in service.requests if r[1] != 201]
    unsent = PushDelivery.objects.unscoped().exclude(status=PushDeliveryStatus.SENT).count()
    if pushes_doubled or pushes_missing or refused or unsent:
        problems.append(f"pushes: {pushes_doubled} more than recorded, {pushes_missing} recorded but not received, "
                        f"{len(refused)} refused by the push service, {unsent} deliveries not sent")
    if any(left.values()):
        problems.append(f"outbox not drained: {left}")
    from routing.services import open_lead_counts_off

    if off := open_lead_counts_off():  # the triggers saw every writer: web nodes, sweeps, behind PgBouncer
        problems.append(f"the round-robin's open-lead counts differ from the leads for {len(off)} people: {off[:5]}")
    for problem in problems:
        print("FAILED:", problem, file=sys.stderr)
    statuses_or_exit("POST /api/v1/leads/ (final answer per lead)",
                     collections.Counter(r["status"] for r in generator.json.values()), {200, 201})
    statuses_or_exit("GET /dashboard/ (final answer per poll)", poller.final, {200})
    if problems:
        raise Refused("REFUSED: " + "; ".join(problems) + "; no figures")
    return {"escalations": escalations, "notices": notices, "pushes": len(service.received), "leads": total}


# --- the run --------------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=20, help="leads per second")
    parser.add_argument("--restart-after", type=float, default=10, help="seconds before a killed process is restarted")
    args = parser.parse_args()
    seconds = args.minutes * 60

    from cryptography.hazmat.primitives import serialization
    from py_vapid import Vapid

    from tests.push_service import b64e, running_push_service

    started_at = dt.datetime.now(dt.UTC)
    load_before = load()
    print(f"starting the cluster ({load_before})", flush=True)
    with Cluster() as cluster:
        env = cluster.direct_env()
        public = b64e(Vapid.from_string(env["WEB_PUSH_VAPID_PRIVATE_KEY"]).public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))
        os.environ.update(env)
        import django

        django.setup()
        with running_push_service(public) as service:
            setup = fixture(cluster, service)
            time.sleep(3)  # workers connect to the broker
            reads_before = replica_reads()
            sampler, poller = Sampler(cluster), DashboardPoller(setup["session"])
            sampler.start()
            poller.start()
            generator = Generator(cluster=cluster, key=setup["key"], account=setup["account"], rate=args.rate,
                                  seconds=seconds)
            load_thread = threading.Thread(target=generator.run)
            load_thread.start()
            print(f"sending {args.rate:g} leads/s for {args.minutes:g} min", flush=True)
            kill_at = time.monotonic() + seconds * 0.4
            while time.monotonic() < kill_at and load_thread.is_alive():
                time.sleep(0.5)
            killed = ["web1", "worker1", "beat1"]
            kill_time = time.time()
            for name in killed:
                cluster.services[name].kill9()
            time.sleep(args.restart_after)
            for name in killed:
                cluster.restart(name)
            print(f"killed {', '.join(killed)} with SIGKILL at "
                  f"{dt.datetime.fromtimestamp(kill_time, dt.UTC):%H:%M:%S} UTC, restarted after {args.restart_after:g} s",
                  flush=True)
            load_thread.join()
            load_during = load()
            poller.stop.set()
            poller.join()
            print(f"load done ({load_during}); draining: mails read, beats stopped, outbox flushed", flush=True)
            left = drain(cluster, generator, setup["dealer_id"])
            sampler.stop.set()
            sampler.join()
            reads_after = replica_reads()
            figures = check(generator, poller, service, setup["dealer_id"], left)
        from django.db import connections

        connections.close_all()
    report(args, started_at, load_before, load_during, generator, poller, sampler, figures,
           (reads_after[0] - reads_before[0], reads_after[1] - reads_before[1]))


def report(args, started_at, load_before, load_during, generator, poller, sampler, figures, replica) -> None:
    ok = [r for r in generator.json.values() if r["status"] in (200, 201)]
    latencies = [1000 * r["latency"] for r in ok]
    first_tries = [1000 * r["first_try"] for r in ok if r["first_try"] is not None and r["attempts"] == 1]
    retried = sum(1 for r in ok if r["attempts"] > 1)
    elapsed = generator.done_at - generator.started
    duplicates = sum(1 for r in ok if r["status"] == 200)
    transient = {k: v for k, v in generator.attempts.items() if k in TRANSIENT}
    print(f"machine: {platform.machine()}, {os.cpu_count()} vCPU, Python {platform.python_version()}; "
          f"{started_at:%Y-%m-%d %H:%M} UTC, {args.minutes:g} min at {args.rate:g} leads/s")
    print(f"load before: {load_before}\nload at the end of the load: {load_during}")
    print(f"leads: {len(generator.json):,} JSON + {len(generator.mails):,} by mail sent, {figures['leads']:,} stored: "
          f"0 lost, 0 doubled; {len(ok) / elapsed + len(generator.mails) / elapsed:.1f} leads/s achieved "
          f"({elapsed:.0f} s)")
    print(f"intake (JSON through the proxy, from the due time to the final answer): p50 {percentile(latencies, 50):.0f} ms, "
          f"p99 {percentile(latencies, 99):.0f} ms, max {max(latencies):.0f} ms; first tries that succeeded: "
          f"p50 {percentile(first_tries, 50):.0f} ms, p99 {percentile(first_tries, 99):.0f} ms")
    print(f"retried with the same Idempotency-Key: {retried} lead(s) after {transient or 'no'} transient answers; "
          f"{duplicates} answered 200 duplicate (the retry of a lead already stored)")
    print(f"escalations: {figures['escalations']}; each step once per lead and deadline")
    print(f"notices: {figures['notices']}; each exactly as often as its step; pushes: {figures['pushes']:,}, none twice, "
          f"none missing; outbox drained; the round-robin's open-lead counts equal the leads' for every person")
    print(f"dashboard: {sum(poller.final.values())} polls, all 200 (transient answers retried: "
          f"{dict(poller.transient) or 'none'}), p50 {1000 * percentile(poller.latencies, 50):.0f} ms, "
          f"p99 {1000 * percentile(poller.latencies, 99):.0f} ms")
    print(f"replica: {replica[0]:,} transactions committed there during the run, {replica[1]:,} scans of leads_lead; "
          f"lag (replay_lag, sampled each second): p50 {1000 * percentile(sampler.lag_seconds, 50):.1f} ms, "
          f"max {1000 * max(sampler.lag_seconds):.1f} ms; WAL behind: p50 {percentile(sampler.lag_bytes, 50) / 1024:.1f} kB, "
          f"max {max(sampler.lag_bytes) / 1024:.1f} kB")
    print("memory (RSS sampled every 5 s; max of one process / of one node with all its processes; PostgreSQL's shared "
          "buffers count in every backend that touched them, so its sums overstate):")
    for kind in sorted(sampler.rss_process):
        print(f"  {kind:18s} {sampler.rss_process[kind] / 1024:7.1f} MB / {sampler.rss_node[kind] / 1024:7.1f} MB")


if __name__ == "__main__":
    main()
