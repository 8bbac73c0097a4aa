"""From a portal's POST to the assignee's phone: how long until the push service accepts the push.

gunicorn on PostgreSQL takes the leads, a Celery worker runs the outbox, and a push service of the benchmark's own on
127.0.0.1 (tests/push_service.py: it verifies the VAPID JWT and decrypts every message, as a real one and the phone
would) records when each lead's push arrived. Five salespeople on duty, each with one subscribed phone.
The clock runs from just before the POST is sent to the moment the push service has decrypted the message.
It refuses to report when any lead produced no push, or more than one.

Run:  .venv/bin/python bench/push.py [--leads 250] [--rate 5] [--workers 2]
"""

import argparse
import http.client
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.benchdb import ROOT, bench_database, bench_env, percentile, port_free_or_exit, setup_django, wait_until_up  # noqa: E402

DB = "opvolger_bench_push"
PORT = 8767
BROKER = "redis://127.0.0.1:6379/7"


def fixture(service) -> str:
    """One dealer open all week, five salespeople on duty with a phone each; returns an API key."""
    from django.db import connection

    from dealers.models import Membership, Role
    from dealers.services import api_key_create
    from leads.services import push_subscription_save
    from tests.factories import DealerFactory, UserFactory, open_all_week

    dealer = DealerFactory(slug="bench-dealer")
    open_all_week(dealer)
    for i in range(5):
        user = UserFactory(email=f"verkoper{i}@bench.test")
        Membership.objects.create(dealer=dealer, user=user, role=Role.SALESPERSON)
        phone = service.subscription_json(service.subscribe())
        push_subscription_save(user=user, endpoint=phone["endpoint"], p256dh=phone["keys"]["p256dh"],
                               auth=phone["keys"]["auth"], user_agent="bench")
    raw_key = api_key_create(dealer=dealer, source="website", rate_per_minute=10**7)[1]
    connection.close()
    return raw_key


def post_leads(raw_key: str, count: int, rate: float) -> dict[str, float]:
    """POST `count` leads at `rate` per second (two connections, so a slow answer does not hold the pace back);
    returns lead id -> wall-clock time just before its POST was sent."""
    sent: dict[str, float] = {}
    lock = threading.Lock()
    start = time.monotonic()
    slots = iter(range(count))

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        for i in slots:
            time.sleep(max(0.0, start + i / rate - time.monotonic()))
            body = json.dumps({"external_id": f"P-{uuid.uuid4().hex}", "channel": "web_form",
                               "customer": {"first_name": "Sanne", "last_name": f"Visser {i}", "phone": "06 12345678"},
                               "vehicle": {"make": "Kia", "model": "Niro"}})
            at = time.time()
            conn.request("POST", "/api/v1/leads/", body=body,
                         headers={"Content-Type": "application/json", "Authorization": f"Api-Key {raw_key}"})
            response = conn.getresponse()
            payload = response.read()
            if response.status != 201:
                raise SystemExit(f"POST answered {response.status}: {payload[:200]!r}")
            with lock:
                sent[json.loads(payload)["id"]] = at
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sent


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=250)
    parser.add_argument("--rate", type=float, default=5.0, help="leads per second")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    args = parser.parse_args()
    if args.leads < 200:
        raise SystemExit("at least 200 leads")

    from py_vapid import Vapid

    from tests.push_service import b64e, running_push_service

    env_key = bench_env(DB)["WEB_PUSH_VAPID_PRIVATE_KEY"]
    from cryptography.hazmat.primitives import serialization

    public = b64e(Vapid.from_string(env_key).public_key.public_bytes(serialization.Encoding.X962,
                                                                     serialization.PublicFormat.UncompressedPoint))
    os.environ["WEB_PUSH_ALLOWED_HOSTS"] = "127.0.0.1"  # for the subscriptions this process stores
    with running_push_service(public) as service, bench_database(DB):
        setup_django(DB)
        raw_key = fixture(service)
        # The benchmark names its own push service, as the test settings do; production's default list does not.
        env = bench_env(DB, CELERY_BROKER_URL=BROKER, REDIS_URL=BROKER, WEB_PUSH_ALLOWED_HOSTS="127.0.0.1")
        import redis

        redis.Redis.from_url(BROKER).flushdb()
        port_free_or_exit(PORT)
        web = subprocess.Popen([sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{PORT}",
                                "--workers", str(args.workers), "--log-level", "warning"], cwd=ROOT, env=env)
        worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=WARNING",
                                   "--concurrency=1", "--without-gossip", "--without-mingle"], cwd=ROOT, env=env)
        try:
            wait_until_up(PORT)
            time.sleep(3)  # the worker connects to the broker
            load_before = os.getloadavg()[0]
            sent = post_leads(raw_key, args.leads, args.rate)
            load_after = os.getloadavg()[0]
            deadline = time.monotonic() + 30
            while len(service.received) < len(sent) and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(2)  # anything sent twice arrives now
        finally:
            for process in (web, worker):
                process.send_signal(signal.SIGTERM)
            for process in (web, worker):
                process.wait(timeout=30)

    arrivals: dict[str, list[float]] = {}
    for r in service.received:
        arrivals.setdefault(r.message["lead"], []).append(r.at)
    refused = [(t, status, reason) for t, status, reason in service.requests if status != 201]
    missing = [lead for lead in sent if lead not in arrivals]
    twice = [lead for lead, times in arrivals.items() if len(times) > 1]
    stray = [lead for lead in arrivals if lead not in sent]
    if missing or twice or stray or refused:
        raise SystemExit(f"not reported: {len(missing)} lead(s) without a push, {len(twice)} pushed more than once, "
                         f"{len(stray)} unknown, {len(refused)} refused by the push service {refused[:3]}")
    delays = [arrivals[lead][0] - at for lead, at in sent.items()]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{len(sent)} leads at {args.rate:g}/s, gunicorn workers: {args.workers}, one Celery worker (concurrency 1); "
          f"load average {load_before:.1f} before, {load_after:.1f} after; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"POST -> push accepted by the push service: p50 {percentile(delays, 50):.2f} s, p90 {percentile(delays, 90):.2f} s, "
          f"p99 {percentile(delays, 99):.2f} s, max {max(delays):.2f} s; every lead exactly one push")


if __name__ == "__main__":
    main()
