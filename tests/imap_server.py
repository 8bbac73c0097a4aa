"""A private Dovecot IMAP server for the tests and the benchmark: its own config, ports, Maildir and users.

Plain IMAP (also for STARTTLS) and IMAPS on free ports of 127.0.0.1, with a self-signed certificate for 127.0.0.1
that the tests hand to the poller as its CA (settings.MAILBOX_TLS_CA_FILE). Dovecot's login and mail processes refuse
to run as root: they run as the packaged `dovenull` and `dovecot` users.
"""

import datetime as dt
import email.utils
import imaplib
import ipaddress
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ACCOUNTS = 500
DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _self_signed(cert_path: Path, key_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))


CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/tls/cert.pem
ssl_key = <{root}/tls/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
mail_uid = dovecot
mail_gid = dovecot
first_valid_uid = {uid}
mail_location = maildir:{root}/mail/%u
mail_max_userip_connections = 200
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {plain_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ssl_port}
    ssl = yes
  }}
}}
"""


class DovecotServer:
    host = "127.0.0.1"

    def __init__(self):
        if not os.path.exists(DOVECOT):
            raise RuntimeError("dovecot is not installed: apt-get install dovecot-imapd (scripts/lib.sh ensure_dovecot)")
        self.root = Path(tempfile.mkdtemp(prefix="opvolger-dovecot-"))
        self.plain_port = free_port()
        self.ssl_port = free_port()
        self.cert_path = self.root / "tls" / "cert.pem"
        self.process = None
        self._output = None

    def start(self) -> "DovecotServer":
        dovecot_user = pwd.getpwnam("dovecot")
        os.chmod(self.root, 0o755)
        for sub in ("run", "state", "tls", "mail"):
            (self.root / sub).mkdir(mode=0o755)
        os.chown(self.root / "mail", dovecot_user.pw_uid, dovecot_user.pw_gid)
        _self_signed(self.cert_path, self.root / "tls" / "key.pem")
        # Accounts are made up front: Dovecot re-reads its passwd-file only when the file's mtime (seconds) changes.
        self._accounts = [(f"u{n}-{uuid.uuid4().hex[:8]}@dealer.test", uuid.uuid4().hex) for n in range(ACCOUNTS)]
        (self.root / "passwd").write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in self._accounts))
        config = self.root / "dovecot.conf"
        config.write_text(CONFIG.format(root=self.root, uid=dovecot_user.pw_uid, plain_port=self.plain_port,
                                        ssl_port=self.ssl_port))
        # Its output goes to a file: a pipe nobody reads would stall Dovecot once it filled.
        self._output = open(self.root / "stdout.log", "wb")  # closed in stop()
        self.process = subprocess.Popen([DOVECOT, "-F", "-c", str(config)], stdout=self._output,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while not (self._listening(self.plain_port) and self._listening(self.ssl_port)):
            if self.process.poll() is not None or time.monotonic() > deadline:
                output = (self.root / "stdout.log").read_text(errors="replace")
                self.stop()
                raise RuntimeError(f"dovecot did not start: {output}{self.log()}")
            time.sleep(0.05)
        return self

    def _listening(self, port: int) -> bool:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            return sock.connect_ex((self.host, port)) == 0

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self._output is not None:
            self._output.close()
        shutil.rmtree(self.root, ignore_errors=True)

    # --- users and mail ---------------------------------------------------------------------------------------------

    def add_user(self) -> tuple[str, str]:
        """A fresh account (its own Maildir): each test reads only its own mail."""
        return self._accounts.pop(0)

    def client(self, user: str, password: str) -> imaplib.IMAP4:
        imap = imaplib.IMAP4(self.host, self.plain_port, timeout=30)
        imap.login(user, password)
        return imap

    def append(self, user: str, password: str, raw: bytes, folder: str = "INBOX") -> None:
        """Deliver a mail by IMAP APPEND, as a mail server's delivery would put it in the folder."""
        imap = self.client(user, password)
        try:
            if folder != "INBOX":
                imap.create(f'"{folder}"')  # NO when it exists: fine
            typ, data = imap.append(f'"{folder}"', None, None, raw)
            assert typ == "OK", data
        finally:
            imap.logout()

    def folder_state(self, user: str, password: str, folder: str = "INBOX") -> dict:
        """{uid: flags} of a folder: what the dealer sees in its mail program."""
        imap = self.client(user, password)
        try:
            typ, _data = imap.select(f'"{folder}"', readonly=True)
            if typ != "OK":
                return {}
            typ, data = imap.uid("FETCH", "1:*", "(FLAGS)")
            state = {}
            for line in data:
                if not line:
                    continue
                text = line.decode() if isinstance(line, bytes) else line[0].decode()
                uid = int(text.split("UID ")[1].split()[0].rstrip(")"))
                state[uid] = text.split("FLAGS (")[1].split(")")[0].split()
            return state
        finally:
            imap.logout()


def portal_mail(n: int, *, domain: str = "dealer.test", size_padding: int = 0, message_id: str | None = None) -> bytes:
    """A dealer-website form mail (label: value), as the mail intake reads it; unique Message-ID per n."""
    message_id = message_id or f"<form-{n}-{uuid.uuid4().hex}@{domain}>"
    body = (f"Naam: Klant {n} de Vries\r\n"
            f"E-mailadres: klant{n}@example.nl\r\n"
            f"Telefoonnummer: 06 {10000000 + n}\r\n"
            f"Bericht: Is de auto nog beschikbaar? Vraag {n}\r\n")
    if size_padding:
        body += "\r\n" + ("Bijlage-tekst " * (size_padding // 14 + 1))[:size_padding] + "\r\n"
    return (f"From: Website <formulier@{domain}>\r\n"
            f"To: verkoop@{domain}\r\n"
            f"Subject: Nieuw contactformulier {n}\r\n"
            f"Message-ID: {message_id}\r\n"
            f"Date: {email.utils.format_datetime(dt.datetime.now(dt.UTC))}\r\n"  # now: a fresh lead, not an overdue one
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n" + body).encode()
