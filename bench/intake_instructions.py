"""What a lead costs the web process, in CPU instructions counted by callgrind: the same figure on a busy host and a
quiet one, so two versions of the code can be compared without interleaving timed runs.

The intake benchmark (bench/intake.py) times the whole stack, but the host's speed drifts by 2x between hours. Here
the web process runs under `valgrind --tool=callgrind`, which counts instructions instead of seconds, with counting
switched on (callgrind_control) only around N requests after a warm-up. PostgreSQL and Redis run outside it and are
not counted. Both targets go through Django's test client, which builds each request the way a WSGI server would.

Run:  .venv/bin/python bench/intake_instructions.py [--requests 200]   (needs valgrind; takes about a minute)
"""

import argparse
import itertools
import platform
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.benchdb import ROOT, bench_database, bench_env, setup_django  # noqa: E402
from bench.intake import intake_fixture, lead_body  # noqa: E402

DB = "opvolger_bench_instructions"
WARM_UP = 30
PATHS = {"lead": "/api/v1/leads/", "bare": "/bench/bare/"}


def child(target: str, requests: int, raw_key: str) -> None:
    """Inside callgrind: warm up, say "ready", wait for counting to be switched on, post, say "done", wait."""
    import django

    django.setup()
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Api-Key {raw_key}", HTTP_HOST="127.0.0.1")
    counter = itertools.count()

    def post(path, n):
        for _ in range(n):
            response = client.post(path, lead_body(next(counter)), content_type="application/json")
            if response.status_code != 201:
                raise SystemExit(f"{path} answered {response.status_code}: {response.content[:300]!r}")

    post(PATHS["lead"], WARM_UP)
    post(PATHS["bare"], WARM_UP)
    for step in ("ready", "done"):
        print(step, flush=True)
        sys.stdin.readline()
        if step == "ready":
            post(PATHS[target], requests)


def counted(target: str, requests: int, raw_key: str, out_dir: str, db: str = DB) -> int:
    """Instructions the web process executed for `requests` posts to `target` (valgrind does not follow PostgreSQL
    or Redis)."""
    out = Path(out_dir) / f"callgrind.{target}"
    env = bench_env(db, DJANGO_SETTINGS_MODULE="bench.settings")
    process = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}", sys.executable, __file__,
         "--child", target, "--requests", str(requests), "--key", raw_key],
        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def step(expected: str, instrument: str) -> None:
        line = process.stdout.readline().strip()
        if line != expected:
            process.kill()
            raise SystemExit(f"the {target} run said {line!r} instead of {expected!r}")
        subprocess.run(["callgrind_control", "--instr=" + instrument, str(process.pid)], check=True,
                       capture_output=True)
        process.stdin.write("go\n")
        process.stdin.flush()

    step("ready", "on")
    step("done", "off")
    if process.wait() != 0:
        raise SystemExit(f"the {target} run failed")
    totals = next(line for line in out.read_text().splitlines() if line.startswith("totals:"))
    return int(totals.split()[1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--child", choices=list(PATHS))
    parser.add_argument("--key")
    parser.add_argument("--db", default=DB, help="bench database name (to run two versions side by side)")
    parser.add_argument("--lead-only", action="store_true", help="count the lead alone (comparing two versions)")
    parser.add_argument("--keep", help="keep the callgrind output files in this directory (for callgrind_annotate)")
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.requests, args.key)

    with bench_database(args.db):
        setup_django(args.db)
        raw_key = intake_fixture()[0]
        with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=2) as pool:
            out_dir = args.keep or tmp
            targets = ["lead"] if args.lead_only else list(PATHS)
            runs = {target: pool.submit(counted, target, args.requests, raw_key, out_dir, args.db) for target in targets}
            lead = runs["lead"].result() / args.requests
            bare = runs["bare"].result() / args.requests if "bare" in runs else None

    print(f"machine: {platform.machine()}, Python {platform.python_version()}, {args.requests} requests per target")
    print(f"POST /api/v1/leads/       {lead / 1e6:7.2f} M instructions per lead (web process)")
    if bare is not None:
        print(f"bare DRF one-row insert   {bare / 1e6:7.2f} M instructions per request")
        print(f"a lead costs {lead / bare:.1f}x a bare insert's instructions in the web process")


if __name__ == "__main__":
    main()
