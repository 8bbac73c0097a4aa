"""More than one machine, shown on one: a private cluster of every tier, on its own ports, torn down without a trace.

    PostgreSQL 15 primary (:55432) ──WAL──> streaming replica (:55433, pg_basebackup -R), the dashboard's figures
        ^ PgBouncer, transaction pooling (:56432): what web, workers and beats connect to
    haproxy (:58000) ──> two gunicorn nodes (:58001, :58002), health-checked on /healthz
    two Celery workers (-Q celery,timers), two beats, a private Redis (:6390), a private Dovecot (mailbox polling)

Every server runs in a throw-away directory and its own process group (so a node can be killed whole, as a machine
dies). PostgreSQL and PgBouncer run as the `postgres` OS user (they refuse root). OS packages: PostgreSQL 15,
pgbouncer, haproxy, redis-server, dovecot-imapd (installed with apt-get when missing, as root).

    .venv/bin/python bench/cluster.py        # start it, print the addresses, run until Ctrl-C, then tear it down
    .venv/bin/python bench/soak.py           # the soak starts its own cluster (this module) and tears it down
"""

import collections
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.benchdb import ROOT, bench_env  # noqa: E402

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PRIMARY_PORT, REPLICA_PORT, PGBOUNCER_PORT = 55432, 55433, 56432
REDIS_PORT = 6390
PROXY_PORT, WEB_PORTS = 58000, (58001, 58002)
DB = "opvolger"
MAILBOX_KEY = "p2mS3mH1b9n7wE7QxkN0v3Zf0qk9q3p2J8tKc1d4yXo="  # a throw-away Fernet key for the soak's database only
PACKAGES = {"pgbouncer": "/usr/sbin/pgbouncer", "haproxy": "/usr/sbin/haproxy", "redis-server": "/usr/bin/redis-server",
            "dovecot-imapd": "/usr/sbin/dovecot", "postgresql-15": str(PG_BIN / "postgres")}


def ensure_packages() -> None:
    """The cluster's servers come from the OS packages (Debian's), installed the way scripts/lib.sh does."""
    missing = [name for name, path in PACKAGES.items() if not os.path.exists(path)]
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit(f"REFUSED: missing OS packages {missing}; install them: apt-get install {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(["apt-get", "install", "-y", "-q", *missing], env=env, capture_output=True).returncode:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-q", *missing], env=env, capture_output=True, check=True)


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_for(what: str, ready, timeout: float = 60, process: "Service | None" = None) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if process is not None and process.popen.poll() is not None:
            raise SystemExit(f"{what} exited with {process.popen.returncode}; see {process.log_path}")
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not come up within {timeout:.0f} s")
        time.sleep(0.2)


class Service:
    """One process group: a server, or a node (gunicorn master and workers, a Celery worker and its children)."""

    def __init__(self, name: str, kind: str, argv: list[str], *, logs: Path, env=None, user=None, cwd=None,
                 stop_signal=signal.SIGTERM):
        self.name, self.kind, self.argv, self.env, self.user, self.cwd = name, kind, argv, env, user, cwd or ROOT
        self.stop_signal = stop_signal
        self.log_path = logs / f"{name}.log"
        self.popen: subprocess.Popen | None = None
        self.kills: list[float] = []

    def start(self) -> "Service":
        log = open(self.log_path, "ab")  # noqa: SIM115 (the child keeps it)
        self.popen = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True, user=self.user,
                                      group=self.user)
        log.close()
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def pids(self) -> list[int]:
        """The process and all its descendants (a gunicorn master and its workers; PostgreSQL's backends, which leave
        the process group)."""
        if self.popen is None or self.popen.poll() is not None:
            return []
        children = collections.defaultdict(list)
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError, ValueError):
                    stat = Path(f"/proc/{entry}/stat").read_text()
                    children[int(stat.rsplit(")", 1)[1].split()[1])].append(int(entry))
        found, todo = [], [self.popen.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, []))
        return found

    def kill9(self) -> None:
        """The machine dies: every process of the node at once, no goodbye."""
        self.kills.append(time.time())
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()

    def stop(self, timeout: float = 20) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.popen.pid, self.stop_signal)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError):  # whatever of the group outlived its leader
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)


PGBOUNCER_INI = """\
[databases]
{db} = host=127.0.0.1 port={primary} dbname={db} user=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {root}/userlist.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 20
reserve_pool_size = 5
server_reset_query =
ignore_startup_parameters = extra_float_digits
admin_users = postgres
stats_users = postgres
logfile = {root}/pgbouncer.log
pidfile = {root}/pgbouncer.pid
"""

HAPROXY_CFG = """\
global
    maxconn 4000
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    # Requests wait here, not in a node's socket backlog: a node holds as many as it has workers (maxconn below), so
    # its health check is answered within one request's time even under a backlog.
    timeout queue 60s
    timeout check 5s
    retries 3
    option redispatch 1
    # Retried by the proxy (on the other node) only when the request never reached a node; anything else the client
    # retries with its Idempotency-Key.
    retry-on conn-failure
frontend portal
    bind 127.0.0.1:{port}
    default_backend web
backend web
    balance roundrobin
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host 127.0.0.1
    http-check expect status 200
{servers}
"""


class Cluster:
    """Start with `with Cluster(...) as cluster:`; everything is stopped and removed on leaving, also on Ctrl-C."""

    def __init__(self, *, web_workers: int = 2, worker_concurrency: int = 2, mailbox_poll_seconds: int = 10,
                 sweep_seconds: int = 5):
        self.root = Path(tempfile.mkdtemp(prefix="opvolger-cluster-"))
        os.chmod(self.root, 0o755)
        self.logs = self.root / "logs"
        self.logs.mkdir()
        os.chmod(self.logs, 0o777)
        self.web_workers, self.worker_concurrency = web_workers, worker_concurrency
        self.mailbox_poll_seconds, self.sweep_seconds = mailbox_poll_seconds, sweep_seconds
        self.services: dict[str, Service] = {}
        self.dovecot = None

    # --- addresses -----------------------------------------------------------------------------------------------
    @staticmethod
    def url(port: int) -> str:
        return f"postgres://postgres@127.0.0.1:{port}/{DB}"

    def app_env(self, **extra) -> dict:
        """Production settings, as a deployment would set them: the primary through PgBouncer, the replica direct."""
        env = bench_env(DB)
        env.update(
            DATABASE_URL=self.url(PGBOUNCER_PORT), DATABASE_REPLICA_URL=self.url(REPLICA_PORT),
            DISABLE_SERVER_SIDE_CURSORS="true", REDIS_URL=f"redis://127.0.0.1:{REDIS_PORT}/0",
            CELERY_BROKER_URL=f"redis://127.0.0.1:{REDIS_PORT}/0", SITE_URL=f"http://127.0.0.1:{PROXY_PORT}",
            ALLOWED_HOSTS="127.0.0.1,localhost", WEB_PUSH_ALLOWED_HOSTS="127.0.0.1", MAILBOX_ENCRYPTION_KEY=MAILBOX_KEY,
            MAILBOX_TLS_CA_FILE=str(self.dovecot.cert_path) if self.dovecot else "",
            MAILBOX_POLL_SECONDS=str(self.mailbox_poll_seconds), FOLLOWUP_SWEEP_SECONDS=str(self.sweep_seconds))
        env.update(extra)
        return env

    def direct_env(self) -> dict:
        """For this process's own set-up and checks: the primary itself, not through PgBouncer."""
        return self.app_env(DATABASE_URL=self.url(PRIMARY_PORT), DATABASE_REPLICA_URL="")

    # --- start ---------------------------------------------------------------------------------------------------
    def _service(self, name: str, kind: str, argv: list[str], **kwargs) -> Service:
        service = Service(name, kind, argv, logs=self.logs, **kwargs)
        self.services[name] = service
        return service.start()

    def _as_postgres(self, argv: list[str]) -> None:
        subprocess.run(argv, user="postgres", group="postgres", cwd=self.root, check=True, capture_output=True)

    def _postgres(self, name: str, datadir: Path, port: int) -> Service:
        return self._service(name, name, [str(PG_BIN / "postgres"), "-D", str(datadir), "-p", str(port)],
                             user="postgres", cwd=self.root, stop_signal=signal.SIGINT)  # SIGINT: fast shutdown

    def start_databases(self) -> None:
        shutil.chown(self.root, "postgres", "postgres")  # initdb and pg_basebackup make their directories in it
        primary = self.root / "primary"
        self._as_postgres([str(PG_BIN / "initdb"), "-D", str(primary), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                           "--locale=C.UTF-8", "--no-sync"])
        with open(primary / "postgresql.conf", "a") as conf:
            conf.write(f"listen_addresses = '127.0.0.1'\nunix_socket_directories = '{self.root}'\n"
                       "wal_level = replica\nmax_wal_senders = 5\nmax_replication_slots = 5\nhot_standby = on\n"
                       "max_connections = 200\ntimezone = 'UTC'\nlog_min_messages = warning\n"
                       "track_io_timing = off\nhot_standby_feedback = on\n")
        pg = self._postgres("postgres-primary", primary, PRIMARY_PORT)
        wait_for("the primary", lambda: listening(PRIMARY_PORT), process=pg)
        time.sleep(0.5)
        subprocess.run([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(PRIMARY_PORT), "-U", "postgres", DB],
                       check=True)
        replica = self.root / "replica"
        self._as_postgres([str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(PRIMARY_PORT), "-U", "postgres",
                           "-D", str(replica), "-R", "-X", "stream", "-c", "fast", "-C", "-S", "soak_replica"])
        rep = self._postgres("postgres-replica", replica, REPLICA_PORT)
        wait_for("the replica", lambda: listening(REPLICA_PORT), process=rep)
        (self.root / "userlist.txt").write_text('"postgres" ""\n')
        (self.root / "pgbouncer.ini").write_text(PGBOUNCER_INI.format(db=DB, primary=PRIMARY_PORT, port=PGBOUNCER_PORT,
                                                                      root=self.root))
        bouncer = self._service("pgbouncer", "pgbouncer", ["/usr/sbin/pgbouncer", str(self.root / "pgbouncer.ini")],
                                user="postgres", cwd=self.root, stop_signal=signal.SIGINT)
        wait_for("pgbouncer", lambda: listening(PGBOUNCER_PORT), process=bouncer)

    def start_redis(self) -> None:
        redis = self._service("redis", "redis", ["/usr/bin/redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1",
                                                 "--save", "", "--appendonly", "no", "--dir", str(self.root)])
        wait_for("redis", lambda: listening(REDIS_PORT), process=redis)

    def start_dovecot(self) -> None:
        from tests.imap_server import DovecotServer

        self.dovecot = DovecotServer().start()

    def deploy(self) -> None:
        """What a release does before the nodes start: the schema, and the static files' manifest the pages need."""
        for command in (["migrate", "--noinput", "-v0"], ["collectstatic", "--noinput", "-v0"]):
            subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=self.direct_env(), check=True)

    def start_web(self, n: int) -> Service:
        port = WEB_PORTS[n - 1]
        return self._service(f"web{n}", "gunicorn node", [
            sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
            "--workers", str(self.web_workers), "--timeout", "30", "--graceful-timeout", "5", "--log-level", "warning"],
            env=self.app_env())

    def start_worker(self, n: int) -> Service:
        return self._service(f"worker{n}", "celery worker", [
            sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "celery,timers", "--loglevel=WARNING",
            f"--concurrency={self.worker_concurrency}", "-n", f"worker{n}@soak", "--without-gossip", "--without-mingle"],
            env=self.app_env())

    def start_beat(self, n: int) -> Service:
        return self._service(f"beat{n}", "celery beat", [
            sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel=WARNING",
            f"--schedule={self.root / f'beat{n}-schedule'}", f"--pidfile={self.root / f'beat{n}.pid'}"],
            env=self.app_env())

    def restart(self, name: str) -> Service:
        """What a supervisor does after a crash: the same command again."""
        kind = name.rstrip("0123456789")
        n = int(name[len(kind):])
        with contextlib.suppress(FileNotFoundError):
            (self.root / f"beat{n}.pid").unlink()  # a killed beat leaves its pidfile behind
        return {"web": self.start_web, "worker": self.start_worker, "beat": self.start_beat}[kind](n)

    def start_proxy(self) -> None:
        servers = "\n".join(f"    server web{n} 127.0.0.1:{port} maxconn {self.web_workers} check inter 2s fall 3 rise 2"
                            for n, port in enumerate(WEB_PORTS, 1))
        (self.root / "haproxy.cfg").write_text(HAPROXY_CFG.format(port=PROXY_PORT, servers=servers))
        proxy = self._service("haproxy", "haproxy", ["/usr/sbin/haproxy", "-db", "-f", str(self.root / "haproxy.cfg")])
        wait_for("haproxy", lambda: listening(PROXY_PORT), process=proxy)

    def up(self) -> "Cluster":
        ensure_packages()
        for port in (PRIMARY_PORT, REPLICA_PORT, PGBOUNCER_PORT, REDIS_PORT, PROXY_PORT, *WEB_PORTS):
            if listening(port):
                raise SystemExit(f"REFUSED: port {port} is already in use; stop what listens there and run again")
        self.start_databases()
        self.start_redis()
        self.start_dovecot()
        self.deploy()
        for n in (1, 2):
            self.start_worker(n)
            self.start_beat(n)
        for n, port in enumerate(WEB_PORTS, 1):
            web = self.start_web(n)
            wait_for(f"web node {n}", lambda port=port: listening(port), process=web)
        self.start_proxy()
        return self

    # --- stop ----------------------------------------------------------------------------------------------------
    def down(self) -> None:
        order = ["haproxy", "web1", "web2", "beat1", "beat2", "worker1", "worker2", "pgbouncer", "redis",
                 "postgres-replica", "postgres-primary"]
        for name in order + [n for n in self.services if n not in order]:
            if name in self.services:
                self.services[name].stop()
        if self.dovecot is not None:
            self.dovecot.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "Cluster":
        previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        self._previous_sigterm = previous
        try:
            return self.up()
        except BaseException:
            self.keep_logs()
            self.down()
            raise

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is not None:
            self.keep_logs()
        self.down()
        signal.signal(signal.SIGTERM, self._previous_sigterm)

    def keep_logs(self) -> None:
        """On a failure the servers' logs outlive the cluster (var/ is ignored by git)."""
        target = ROOT / "var" / "cluster-logs"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(self.logs, target, dirs_exist_ok=True)
        for extra in ("pgbouncer.log",):
            with contextlib.suppress(OSError):
                shutil.copy(self.root / extra, target / extra)
        print(f"logs kept in {target}", file=sys.stderr)


def main() -> None:
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise SystemExit("REFUSED: no postgres OS user (it comes with the PostgreSQL packages)") from None
    with Cluster() as cluster:
        print(f"proxy http://127.0.0.1:{PROXY_PORT}/ -> web nodes {WEB_PORTS}; primary {cluster.url(PRIMARY_PORT)}, "
              f"via PgBouncer {cluster.url(PGBOUNCER_PORT)}, replica {cluster.url(REPLICA_PORT)}; Redis :{REDIS_PORT}; "
              f"Dovecot IMAPS :{cluster.dovecot.ssl_port}; logs in {cluster.logs}. Ctrl-C stops and removes it all.")
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
