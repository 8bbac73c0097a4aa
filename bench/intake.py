"""Intake throughput and latency over HTTP: gunicorn on PostgreSQL, 16 concurrent connections.

Compares POST /api/v1/leads/ (validation, idempotency, customer matching, scoring, routing, outbox) with a bare DRF
endpoint that only stores one row, on the same server in the same run, in alternating turns; then measures how long it
takes from the POST to the assignee's notice being sent by a running Celery worker.

Run:  .venv/bin/python bench/intake.py [--seconds 20] [--rounds 4] [--concurrency 16] [--workers 4] [--dealers 1]

With one dealer (the default, the worst case) every lead takes that dealer's round-robin lock in turn; a SaaS's load
comes from many dealers at once (`--dealers 50`).
"""

import argparse
import http.client
import itertools
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.benchdb import (  # noqa: E402
    PG,
    ROOT,
    bench_database,
    bench_env,
    percentile,
    port_free_or_exit,
    setup_django,
    statuses_or_exit,
    wait_until_up,
)

DB = "opvolger_bench_intake"
PORT = 8765


def lead_body(i: int) -> bytes:
    return json.dumps({
        "external_id": f"B-{uuid.uuid4().hex}",
        "channel": "web_form",
        "customer": {"first_name": "Jan", "last_name": f"de Vries {i}", "email": f"jan{uuid.uuid4().hex[:12]}@example.nl",
                     "phone": f"06 {10_000_000 + i % 89_999_999}"},
        "vehicle": {"make": "Hyundai", "model": "Tucson", "year": 2023, "price": 32950},
        "message": "Is deze auto nog beschikbaar?",
    }).encode()


def intake_fixture(dealers: int = 1) -> list[str]:
    """The bare endpoint's table and `dealers` dealers, open all week, each with five salespeople on duty; returns an
    API key per dealer."""
    from django.db import connection

    from dealers.models import Membership, Role
    from dealers.services import api_key_create
    from tests.factories import DealerFactory, UserFactory, open_all_week

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_row (id bigserial PRIMARY KEY, body text, created_at timestamptz DEFAULT now())")
    keys = []
    for d in range(dealers):
        dealer = DealerFactory(slug=f"bench-dealer-{d}")
        open_all_week(dealer)
        for i in range(5):
            Membership.objects.create(dealer=dealer, user=UserFactory(email=f"verkoper{i}@bench{d}.test", password=None),
                                      role=Role.SALESPERSON)
        keys.append(api_key_create(dealer=dealer, source="website", rate_per_minute=10**7)[1])
    connection.close()
    return keys


def analyze() -> None:
    """Table statistics, as autovacuum keeps them in any database that has been up a minute: a database made for the
    run has none, and PostgreSQL then picks plans for empty tables (the customer match read the wrong index)."""
    conn = psycopg2.connect(dbname=DB, **PG)
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute("ANALYZE")
    finally:
        conn.close()


def load(path: str, headers: list[dict], seconds: float, concurrency: int, numbering=None) -> dict:
    """Post for `seconds` from `concurrency` connections, each request with the next of `headers` (one per dealer).
    Leads are numbered from 0, or on from `numbering` (an iterator shared by several calls: no phone number twice)."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    counter = numbering if numbering is not None else itertools.count()
    rotation = itertools.cycle(headers)  # next() on it is atomic under the GIL

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        mine, codes = [], {}
        while time.monotonic() < stop_at:
            body = lead_body(next(counter))
            start = time.perf_counter()
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **next(rotation)})
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - start)
            codes[response.status] = codes.get(response.status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for code, n in codes.items():
                statuses[code] = statuses.get(code, 0) + n

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    began = time.monotonic()
    [t.start() for t in threads]
    [t.join() for t in threads]
    return {"latencies": latencies, "elapsed": time.monotonic() - began, "statuses": statuses}


def summary(runs: list[dict]) -> dict:
    """One figure for a target's interleaved runs: requests per second over their summed time, percentiles over all."""
    latencies = [x for run in runs for x in run["latencies"]]
    statuses: dict[int, int] = {}
    for run in runs:
        for code, n in run["statuses"].items():
            statuses[code] = statuses.get(code, 0) + n
    return {"requests": len(latencies), "per_second": len(latencies) / sum(run["elapsed"] for run in runs),
            "statuses": statuses, "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000}


def interleaved(portal: list[dict], seconds: float, concurrency: int, rounds: int,
                numbering=None) -> tuple[dict, dict, dict, dict, list]:
    """The lead endpoint and the bare one in turns, `rounds` times each for an equal share of `seconds`: the host's
    speed drifts by tens of percent within minutes, and two back-to-back runs compared it as much as the code.
    Returns (leads, bare, CPU per lead, CPU per bare request, turns): CPU in milliseconds, measured over each target's
    turns; turns as (target, began, ended) in wall-clock seconds."""
    share = seconds / rounds
    runs: dict[str, list] = {"lead": [], "bare": []}
    cpu = {"lead": {}, "bare": {}}
    turns = []
    for _round in range(rounds):
        for target, path, headers in (("lead", "/api/v1/leads/", portal), ("bare", "/bench/bare/", [{}])):
            before, began = cpu_seconds(), time.time()
            runs[target].append(load(path, headers, share, concurrency, numbering))
            after = cpu_seconds()
            turns.append((target, began, time.time()))
            for name in after:
                cpu[target][name] = cpu[target].get(name, 0.0) + after[name] - before[name]
    leads, bare = summary(runs["lead"]), summary(runs["bare"])
    per = {target: {name: used / max(1, (leads if target == "lead" else bare)["requests"]) * 1000
                    for name, used in cpu[target].items()} for target in cpu}
    return leads, bare, per["lead"], per["bare"], turns


def garbage_collections(gc_log: Path, turns: list) -> dict[str, dict]:
    """The web workers' garbage collections during each target's turns (bench/settings_wsgi.py records them): their
    CPU seconds, and the CPU of each full (generation 2) collection, which stops its request that long or longer."""
    by_target = {target: {"cpu": 0.0, "full": []} for target, _began, _ended in turns}
    for record in gc_log.glob("gc.*"):
        for line in record.read_text().splitlines():
            ended, generation, used = line.split()
            target = next((t for t, began, end in turns if began <= float(ended) <= end), None)
            if target is not None:
                by_target[target]["cpu"] += float(used)
                if generation == "2":
                    by_target[target]["full"].append(float(used))
    return by_target


def _processes() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command name, user + system CPU seconds), read from Linux /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                head, tail = (entry / "stat").read_text().rsplit(")", 1)
            except OSError:
                continue
            fields = tail.split()
            table[int(entry.name)] = (int(fields[1]), head.split("(", 1)[1], (int(fields[11]) + int(fields[12])) / ticks)
    return table


def cpu_seconds() -> dict[str, float]:
    """CPU used so far by the web server, the worker, PostgreSQL and this load generator (with their children)."""
    table = _processes()

    def tree(root: int) -> float:
        total, todo = 0.0, [root]
        while todo:
            pid = todo.pop()
            total += table[pid][2]
            todo.extend(child for child, (parent, _name, _cpu) in table.items() if parent == pid)
        return total

    own = os.times()
    return {"web": tree(WEB_PID[0]), "worker": tree(WEB_PID[1]), "postgres": _bench_backends_cpu(table),
            "load generator": own.user + own.system}


def _bench_backends_cpu(table: dict) -> float:
    """CPU of the PostgreSQL backends serving the bench database (the web server's, the worker's, ours): other
    databases on the same server (another engineer's benchmark, a test run) are not counted. Shared background
    processes (WAL writer, checkpointer) are left out too, so this is a little below PostgreSQL's whole share."""
    conn = psycopg2.connect(dbname="postgres", **PG)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [DB])
            pids = {pid for (pid,) in cursor.fetchall()}
    finally:
        conn.close()
    seen = _BACKEND_CPU_SEEN
    for pid in pids & table.keys():
        seen[pid] = table[pid][2]  # a backend that has gone keeps the last figure read
    return sum(seen.values())


_BACKEND_CPU_SEEN: dict[int, float] = {}


WEB_PID: list[int] = []


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=4, help="turns each target gets, alternating (see interleaved)")
    parser.add_argument("--dealers", type=int, default=1,
                        help="spread the leads over this many dealers (1: every lead waits on one dealer's round-robin)")
    parser.add_argument("--new-customers", action="store_true",
                        help="number the leads on across turns: every lead a new customer's (by default each turn "
                             "numbers from 0 again, so most leads of later turns are returning customers')")
    args = parser.parse_args()

    with bench_database(DB), tempfile.TemporaryDirectory(prefix="opvolger-bench-gc-") as gc_dir:
        setup_django(DB)
        portal = [{"Authorization": f"Api-Key {key}"} for key in intake_fixture(args.dealers)]

        gc_log = Path(gc_dir)  # each web worker's garbage collections (bench/settings_wsgi.py)
        env = bench_env(DB, DJANGO_SETTINGS_MODULE="bench.settings", CELERY_BROKER_URL="redis://127.0.0.1:6379/8",
                        BENCH_GC_LOG=str(gc_log))
        import redis

        redis.Redis.from_url("redis://127.0.0.1:6379/8").flushdb()
        port_free_or_exit(PORT)
        web = subprocess.Popen([sys.executable, "-m", "gunicorn", "bench.settings_wsgi:application",
                                "--bind", f"127.0.0.1:{PORT}",
                                "--workers", str(args.workers), "--log-level", "warning"], cwd=ROOT, env=env)
        worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=WARNING",
                                   "--concurrency=1", "--without-gossip", "--without-mingle"], cwd=ROOT, env=env)
        try:
            wait_until_up(PORT)
            WEB_PID[:] = [web.pid, worker.pid]
            load("/bench/bare/", [{}], 2, args.concurrency)  # warm-up
            numbering = itertools.count() if args.new_customers else None  # shared with the warm-up, too
            load("/api/v1/leads/", portal, 2, args.concurrency, numbering)
            analyze()
            started = time.time()
            leads, bare, lead_cpu, bare_cpu, turns = interleaved(portal, args.seconds, args.concurrency, args.rounds,
                                                                 numbering)
            collected = garbage_collections(gc_log, turns)
            notice = notice_latency(started)
            returning, stored = lead_mix()
        finally:
            for process in (web, worker):
                process.send_signal(signal.SIGTERM)
            for process in (web, worker):
                process.wait(timeout=30)

    statuses_or_exit("POST /api/v1/leads/", leads["statuses"], {201})
    statuses_or_exit("the bare endpoint", bare["statuses"], {201})
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"gunicorn workers: {args.workers}, concurrency: {args.concurrency}, {args.seconds:.0f} s per target in "
          f"{args.rounds} turns each, leads spread over {args.dealers} dealer(s)")
    for name, r in (("POST /api/v1/leads/", leads), ("bare DRF one-row insert", bare)):
        print(f"{name:<26} {r['per_second']:8.1f} req/s   p50 {r['p50_ms']:6.1f} ms   p99 {r['p99_ms']:6.1f} ms   "
              f"{r['statuses']}")
    print(f"lead throughput / bare throughput: {leads['per_second'] / bare['per_second']:.0%}")
    print("CPU per lead during the lead run: " + ", ".join(f"{name} {ms:.1f} ms" for name, ms in lead_cpu.items()))
    print("CPU per request during the bare run: " + ", ".join(f"{name} {ms:.2f} ms" for name, ms in bare_cpu.items()))
    # A steadier figure than the throughput ratio when the host's speed drifts between the two runs.
    print(f"a lead costs {sum(lead_cpu.values()) / sum(bare_cpu.values()):.1f}x the CPU of a bare insert")
    for target, name, result, cpu in (("lead", "lead", leads, lead_cpu), ("bare", "bare request", bare, bare_cpu)):
        gc_ms = collected[target]["cpu"] / max(1, result["requests"]) * 1000
        full = collected[target]["full"]
        pauses = f"mean {sum(full) / len(full) * 1000:.0f} ms, max {max(full) * 1000:.0f} ms of CPU" if full else "none"
        print(f"garbage collector in the web workers: {gc_ms:.2f} ms a {name} ({gc_ms / cpu['web']:.0%} of its web "
              f"CPU); full collections: {len(full)} ({pauses})")
    print(f"POST -> assignee's notice sent (worker running): p50 {notice['p50']:.2f} s, p99 {notice['p99']:.2f} s "
          f"over {notice['n']} notices, {notice['pending']} still pending")
    # Each turn numbers its leads from 0 again, so a later turn sends phone numbers an earlier one sent: a lead that
    # reaches the same dealer as its namesake is a returning customer's (matched by phone, with a new e-mail address).
    print(f"leads from returning customers: {returning} of {stored} ({returning / max(stored, 1):.0%})")


def lead_mix() -> tuple[int, int]:
    """(leads from returning customers, leads stored)."""
    from django.db import connection

    from leads.models import Lead

    leads = Lead.objects.unscoped()
    mix = leads.filter(returning_customer=True).count(), leads.count()
    connection.close()
    return mix


def notice_latency(started: float) -> dict:
    """Seconds from the lead being stored to its assignment notice's e-mail being sent, read from the outbox rows."""
    from django.db import connection

    from leads.models import DeliveryStatus, Notification

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and Notification.objects.unscoped().filter(email_status=DeliveryStatus.PENDING).exists():
        time.sleep(1)
    rows = (Notification.objects.unscoped().filter(kind="assigned")
            .values_list("lead__created_at", "email_sent_at", "email_status"))
    delays = [(sent - created).total_seconds() for created, sent, status in rows if status == DeliveryStatus.SENT]
    pending = sum(1 for *_x, status in rows if status != DeliveryStatus.SENT)
    connection.close()
    return {"n": len(delays), "p50": percentile(delays, 50), "p99": percentile(delays, 99), "pending": pending}


if __name__ == "__main__":
    main()
