"""The dealer's own mailbox over IMAP: connect, check, and read new mail into the mail intake exactly once.

Exactly once, without a transaction open during network I/O:
- Each mail is read by UID above `last_uid` (under the folder's UIDVALIDITY), fetched with BODY.PEEK (not marked
  read by the fetch), handed to `mail_ingest` (idempotent per dealer on Message-ID, or the sha256 of the bytes),
  then marked read or moved, and only then is `last_uid` advanced. A crash anywhere in between leaves `last_uid`
  behind, so the mail is read again and the intake recognises it: never lost, never doubled.
- One poller per mailbox at a time: a lease claimed by a conditional UPDATE (`poll_lease_until` in the past or
  empty → ours, with a random token). Every bookkeeping write is conditional on our token, so a poller that lost
  its lease (it stalled past the lease) stops at its next step instead of racing the new one. Chosen over a row
  lock (which needs a transaction held across the network) and over a session advisory lock (which the embedded
  SQLite of the quick start does not have and a transaction-pooling PgBouncer would break); the price is that
  after a hard crash the mailbox waits for the lease to expire (POLL_LEASE) before it is read again.
- A mailbox that fails records its error, counts the failures and backs off; it never stops the others.
"""

import base64
import hashlib
import imaplib
import logging
import re
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import connection as db_connection
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from dealers.models import Dealer

from .mail import NotAMail
from .mail_intake import mail_ingest
from .models import AfterRead, Mailbox, MailboxSecurity

logger = logging.getLogger(__name__)

POLL_LEASE = timezone.timedelta(minutes=2)  # renewed at every mail; longer than one fetch + store can take
POLL_TIME_BUDGET_SECONDS = 120  # a poll stops here and asks for a follow-up, under Celery's soft limit (240 s)
BACKOFF_MAX = timezone.timedelta(minutes=15)
ERROR_MAX_CHARS = 500


class MailboxError(Exception):
    """A mailbox could not be read; the message is for the manager (no password in it)."""


class LeaseLost(Exception):
    """Another poller took this mailbox over (ours stalled past its lease): stop without touching it."""


# --- the password at rest -----------------------------------------------------------------------------------------

def _fernet() -> MultiFernet:
    keys = list(settings.MAILBOX_ENCRYPTION_KEY)
    if not keys:  # local and test only: production refuses to boot without a key (config/settings/production.py)
        keys = [base64.urlsafe_b64encode(hashlib.sha256(f"mailbox:{settings.SECRET_KEY}".encode()).digest())]
    return MultiFernet([Fernet(k) for k in keys])


def password_encrypt(password: str) -> str:
    return _fernet().encrypt(password.encode()).decode()


def password_decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise MailboxError(_("The stored password cannot be decrypted (was MAILBOX_ENCRYPTION_KEY changed?). "
                             "Enter the password again.")) from exc


# --- IMAP ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ServerSettings:
    host: str
    port: int
    username: str
    password: str
    security: str
    folder: str = "INBOX"
    move_to: str = ""

    @classmethod
    def of(cls, mailbox: Mailbox) -> "ServerSettings":
        return cls(host=mailbox.host, port=mailbox.port, username=mailbox.username,
                   password=password_decrypt(mailbox.password_encrypted), security=mailbox.security,
                   folder=mailbox.folder, move_to=mailbox.move_to if mailbox.after_read == AfterRead.MOVE else "")


def quote_mailbox_name(name: str) -> str:
    """imaplib sends arguments as given: a folder name with spaces or quotes must be an IMAP quoted string."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=settings.MAILBOX_TLS_CA_FILE)


def imap_open(server: ServerSettings) -> imaplib.IMAP4:
    """A logged-in connection; every socket operation times out after MAILBOX_TIMEOUT_SECONDS."""
    timeout = settings.MAILBOX_TIMEOUT_SECONDS
    try:
        if server.security == MailboxSecurity.SSL:
            imap = imaplib.IMAP4_SSL(server.host, server.port, ssl_context=_tls_context(), timeout=timeout)
        else:
            imap = imaplib.IMAP4(server.host, server.port, timeout=timeout)
            if server.security == MailboxSecurity.STARTTLS:
                imap.starttls(ssl_context=_tls_context())
    except ssl.SSLError as exc:
        raise MailboxError(_("The secure connection to %(host)s:%(port)s failed: %(error)s")
                           % {"host": server.host, "port": server.port, "error": exc}) from exc
    except (OSError, imaplib.IMAP4.error) as exc:
        raise MailboxError(_("Could not reach the mail server %(host)s:%(port)s: %(error)s")
                           % {"host": server.host, "port": server.port, "error": exc}) from exc
    try:
        imap.login(server.username, server.password)
    except imaplib.IMAP4.error as exc:
        _close(imap)
        raise MailboxError(_("The mail server refused the user name or password (%(error)s).") % {"error": _text(exc)}) from exc
    typ, data = imap.capability()  # servers announce more (MOVE) once logged in
    if typ == "OK" and data and data[-1]:
        imap.capabilities = tuple(_text(data[-1]).upper().split())
    return imap


def _close(imap: imaplib.IMAP4) -> None:
    try:
        imap.logout()
    except Exception:  # the connection may already be gone; logging out is a courtesy
        pass


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, Exception) and value.args:
        return _text(value.args[0])
    return str(value)


def _ok(typ: str, data, what: str) -> list:
    if typ != "OK":
        raise MailboxError(_("The mail server answered %(what)s with: %(reply)s")
                           % {"what": what, "reply": " ".join(_text(d) for d in data if d)})
    return data


STATUS_RE = re.compile(rb"(MESSAGES|UNSEEN|UIDVALIDITY|UIDNEXT) (\d+)")


def folder_status(imap: imaplib.IMAP4, folder: str) -> dict[str, int]:
    typ, data = imap.status(quote_mailbox_name(folder), "(MESSAGES UNSEEN UIDVALIDITY UIDNEXT)")
    if typ != "OK":
        raise MailboxError(_("The folder %(folder)s does not exist on the mail server.") % {"folder": folder})
    return {k.decode(): int(v) for k, v in STATUS_RE.findall(data[0] or b"")}


@dataclass(frozen=True)
class MailboxCheck:
    messages: int
    unseen: int


def mailbox_check(*, server: ServerSettings) -> MailboxCheck:
    """Log in and look at the folder (and the folder to move to): what the manager sees before saving."""
    imap = imap_open(server)
    try:
        status = folder_status(imap, server.folder)
        if server.move_to:
            folder_status(imap, server.move_to)
        return MailboxCheck(messages=status.get("MESSAGES", 0), unseen=status.get("UNSEEN", 0))
    except (OSError, imaplib.IMAP4.error) as exc:
        raise MailboxError(_("The mail server stopped answering: %(error)s") % {"error": _text(exc)}) from exc
    finally:
        _close(imap)


# --- connecting a mailbox -----------------------------------------------------------------------------------------

def mailbox_connect(*, dealer: Dealer, server: ServerSettings, after_read: str = AfterRead.MARK_SEEN,
                    by=None) -> Mailbox:
    """Store a mailbox (after the caller checked it). Mail already in the folder is read too: last_uid starts at 0.

    Connecting the same account and folder again replaces its password and settings and turns it back on.
    """
    mailbox, _created = Mailbox.objects.for_dealer(dealer).update_or_create(
        dealer=dealer, host=server.host, username=server.username, folder=server.folder,
        defaults={"port": server.port, "password_encrypted": password_encrypt(server.password),
                  "security": server.security, "after_read": after_read,
                  "move_to": server.move_to if after_read == AfterRead.MOVE else "", "is_active": True,
                  "consecutive_failures": 0, "next_poll_at": None, "last_error": ""},
        create_defaults={"port": server.port, "password_encrypted": password_encrypt(server.password),
                         "security": server.security, "after_read": after_read,
                         "move_to": server.move_to if after_read == AfterRead.MOVE else "", "created_by": by},
    )
    return mailbox


def mailbox_set_active(*, mailbox: Mailbox, active: bool) -> Mailbox:
    Mailbox.objects.for_dealer(mailbox.dealer_id).filter(pk=mailbox.pk).update(
        is_active=active, next_poll_at=None, consecutive_failures=0)
    mailbox.refresh_from_db()
    return mailbox


# --- reading ------------------------------------------------------------------------------------------------------

@dataclass
class PollResult:
    mailbox: Mailbox | None
    skipped: bool = False  # another poller holds the lease
    read: list = field(default_factory=list)  # MailIngestResult per mail, in UID order
    error: str = ""
    more: bool = False  # stopped at the time budget with mail left
    not_mail: list = field(default_factory=list)  # UIDs of messages with no mail header at all: left unread, unmoved

    @property
    def leads(self) -> list:
        return [intake for ingested in self.read for intake in ingested.leads]

    @property
    def ignored(self) -> list:
        return [ingested for ingested in self.read if ingested.ignored]


def _backoff(failures: int) -> timezone.timedelta:
    return min(timezone.timedelta(seconds=settings.MAILBOX_POLL_SECONDS * 2 ** min(failures - 1, 16)), BACKOFF_MAX)


def _lease_claim(mailbox_id: int, token: str) -> bool:
    now = timezone.now()
    return Mailbox.objects.unscoped().filter(pk=mailbox_id, is_active=True).filter(
        Q(poll_lease_until__isnull=True) | Q(poll_lease_until__lt=now)
    ).update(poll_lease_until=now + POLL_LEASE, poll_lease_token=token, last_polled_at=now) == 1


def _bookkeep(mailbox: Mailbox, token: str, **fields) -> None:
    """Write under our lease (and renew it); a lost lease stops this poller."""
    if not Mailbox.objects.for_dealer(mailbox.dealer_id).filter(pk=mailbox.pk, poll_lease_token=token).update(
            poll_lease_until=timezone.now() + POLL_LEASE, **fields):
        raise LeaseLost(mailbox.pk)
    for name, value in fields.items():
        setattr(mailbox, name, value)


def _uids_after(imap: imaplib.IMAP4, last_uid: int) -> list[int]:
    data = _ok(*imap.uid("SEARCH", None, f"UID {last_uid + 1}:*"), "UID SEARCH")
    # "n:*" always matches the highest UID, even when it is below n: keep only the new ones.
    return sorted(uid for uid in (int(u) for u in (data[0] or b"").split()) if uid > last_uid)


FETCH_BATCH = 25  # mails per UID FETCH (and per mark/move and last_uid step): fewer round trips
FETCH_BATCH_BYTES = 20 * 1024 * 1024  # ... but not more than this in memory at once (a single bigger mail goes alone)
FETCH_RE = re.compile(rb"UID (\d+)")
SIZE_RE = re.compile(rb"UID (\d+).*RFC822\.SIZE (\d+)|RFC822\.SIZE (\d+).*UID (\d+)")
NOT_A_MAIL = object()


def _uid_set(uids: list[int]) -> str:
    return ",".join(str(uid) for uid in uids)


def _batches(imap: imaplib.IMAP4, uids: list[int]):
    """The UIDs in groups of at most FETCH_BATCH mails and FETCH_BATCH_BYTES (by the server's RFC822.SIZE)."""
    for start in range(0, len(uids), FETCH_BATCH):
        chunk = uids[start:start + FETCH_BATCH]
        sizes = {}
        for line in _ok(*imap.uid("FETCH", _uid_set(chunk), "(RFC822.SIZE)"), "UID FETCH"):
            m = SIZE_RE.search(line if isinstance(line, bytes) else line[0])
            if m:
                uid, size = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
                sizes[int(uid)] = int(size)
        batch, batch_bytes = [], 0
        for uid in chunk:
            size = sizes.get(uid, 0)
            if batch and batch_bytes + size > FETCH_BATCH_BYTES:
                yield batch
                batch, batch_bytes = [], 0
            batch.append(uid)
            batch_bytes += size
        if batch:
            yield batch


def _fetch_many(imap: imaplib.IMAP4, uids: list[int]) -> dict[int, bytes]:
    """{uid: raw} with BODY.PEEK (the fetch does not mark them read); a UID expunged meanwhile is absent."""
    data = _ok(*imap.uid("FETCH", _uid_set(uids), "(UID BODY.PEEK[])"), "UID FETCH")
    raws, pending = {}, None
    for part in data:
        if isinstance(part, tuple) and len(part) == 2:
            m = FETCH_RE.search(part[0])
            if m:
                raws[int(m.group(1))] = part[1]
            else:
                pending = part[1]  # the server put UID after the literal: it is in the next piece
        elif isinstance(part, bytes) and pending is not None:
            m = FETCH_RE.search(part)
            if m:
                raws[int(m.group(1))] = pending
            pending = None
    return raws


def _after_read(imap: imaplib.IMAP4, mailbox: Mailbox, uids: list[int]) -> None:
    uid_set = _uid_set(uids)
    if mailbox.after_read == AfterRead.MOVE:
        target = quote_mailbox_name(mailbox.move_to)
        if "MOVE" in imap.capabilities:
            _ok(*imap.uid("MOVE", uid_set, target), "UID MOVE")
            return
        # No MOVE (RFC 6851): copy and mark read. The original stays: we never delete from a dealer's mailbox.
        _ok(*imap.uid("COPY", uid_set, target), "UID COPY")
    _ok(*imap.uid("STORE", uid_set, "+FLAGS.SILENT", r"(\Seen)"), "UID STORE")


def _ingest_one(mailbox: Mailbox, raw: bytes | None, receive):
    """The intake's result, NOT_A_MAIL, None (expunged meanwhile), or the exception (to stop at this UID)."""
    if raw is None:
        return None
    try:
        return receive(dealer=mailbox.dealer, raw=raw, fallback_source="email", channel="imap")
    except NotAMail:
        return NOT_A_MAIL
    except Exception as exc:  # handed back: the mails before it count as read, this one and later ones do not
        return exc


def _ingest_batch(mailbox: Mailbox, items: list[tuple[int, bytes | None]], receive) -> list:
    """Outcomes in UID order. With MAILBOX_INGEST_THREADS > 1 the mails of a batch are stored side by side (the
    intake is safe for that: one row per Message-ID, enforced by a unique constraint); each thread closes its own
    database connection when the batch is done."""
    threads = min(settings.MAILBOX_INGEST_THREADS, len(items))
    if threads <= 1:
        outcomes = []
        for _uid, raw in items:
            outcomes.append(_ingest_one(mailbox, raw, receive))
            if isinstance(outcomes[-1], Exception):
                break  # as a crash would: nothing after it is stored
        return outcomes
    outcomes = [None] * len(items)
    next_index = iter(range(len(items)))
    lock = threading.Lock()

    def work():
        try:
            while True:
                with lock:
                    i = next(next_index, None)
                if i is None:
                    return
                outcomes[i] = _ingest_one(mailbox, items[i][1], receive)
        finally:
            db_connection.close()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return outcomes


def _read_new_mail(imap: imaplib.IMAP4, mailbox: Mailbox, token: str, result: PollResult, *, receive) -> None:
    typ, data = imap.select(quote_mailbox_name(mailbox.folder))
    if typ != "OK":
        raise MailboxError(_("The folder %(folder)s does not exist on the mail server.") % {"folder": mailbox.folder})
    _name, data = imap.response("UIDVALIDITY")  # the untagged answer to SELECT
    if not data or data[0] is None:
        raise MailboxError(_("The mail server did not say the folder's UIDVALIDITY; it cannot be read safely."))
    uidvalidity = int(data[0])
    if mailbox.uidvalidity != uidvalidity:
        # A new UIDVALIDITY means the UIDs we counted no longer name the same mails: read the folder from the start;
        # the intake recognises every mail it already stored by its Message-ID.
        _bookkeep(mailbox, token, uidvalidity=uidvalidity, last_uid=0)
    started = time.monotonic()
    for batch in _batches(imap, _uids_after(imap, mailbox.last_uid)):
        if time.monotonic() - started > POLL_TIME_BUDGET_SECONDS:
            result.more = True
            return
        raws = _fetch_many(imap, batch)
        outcomes = _ingest_batch(mailbox, [(uid, raws.get(uid)) for uid in batch], receive)
        # Only the unbroken run of stored mails from the start of the batch is marked and counted: a mail after a
        # failure is read again next time (the intake then finds it if it was stored after all).
        done, failure = [], None
        for uid, outcome in zip(batch, outcomes, strict=False):
            if isinstance(outcome, Exception):
                failure = outcome
                break
            done.append((uid, outcome))
        stored = []
        for uid, outcome in done:
            if outcome is NOT_A_MAIL:
                # Bytes without any mail header (a broken delivery): nothing to store, and left unread where it is
                # so the dealer sees it in the mail program; reading it again would give the same answer.
                logger.warning("mailbox %s: UID %s is not an e-mail message; left in the mailbox", mailbox.pk, uid)
                result.not_mail.append(uid)
            elif outcome is not None:
                result.read.append(outcome)
                stored.append(uid)
        if stored:
            _after_read(imap, mailbox, stored)
        if done:
            _bookkeep(mailbox, token, last_uid=done[-1][0])
        if failure is not None:
            raise failure


def mailbox_poll(*, mailbox_id: int, receive: Callable = mail_ingest) -> PollResult:
    """Read one mailbox's new mail now. Safe to run beside itself: a second poller finds the lease taken and skips.

    `receive` stores each mail: the task and the command pass `followup.services.mail_receive` (the one mail intake
    with routing, answered calls, replies and bounces wired in, which sit above this app); the bare `mail_ingest`
    stores mails and their leads unrouted, for the sweep to route.
    """
    token = uuid.uuid4().hex
    if not _lease_claim(mailbox_id, token):  # being read, turned off, or removed since the task was queued
        return PollResult(mailbox=Mailbox.objects.unscoped().select_related("dealer").filter(pk=mailbox_id).first(),
                          skipped=True)
    mailbox = Mailbox.objects.unscoped().select_related("dealer").get(pk=mailbox_id)
    result = PollResult(mailbox=mailbox)
    imap = None
    try:
        imap = imap_open(ServerSettings.of(mailbox))
        _read_new_mail(imap, mailbox, token, result, receive=receive)
        now = timezone.now()
        _bookkeep(mailbox, token, last_success_at=now, consecutive_failures=0, next_poll_at=None)
    except LeaseLost:
        logger.warning("mailbox %s: lease lost to another poller; stopped", mailbox_id)
        return result
    except Exception as exc:  # whatever breaks one mailbox is recorded on it and never stops the others
        result.error = _error_text(exc)
        if not isinstance(exc, MailboxError):
            logger.exception("mailbox %s: poll failed", mailbox_id)
        failures = mailbox.consecutive_failures + 1
        now = timezone.now()
        Mailbox.objects.for_dealer(mailbox.dealer_id).filter(pk=mailbox.pk, poll_lease_token=token).update(
            last_error=result.error, last_error_at=now, consecutive_failures=failures, next_poll_at=now + _backoff(failures))
    finally:
        if imap is not None:
            _close(imap)
        Mailbox.objects.for_dealer(mailbox.dealer_id).filter(pk=mailbox_id, poll_lease_token=token).update(
            poll_lease_until=None, poll_lease_token="")
    mailbox.refresh_from_db()
    return result


def _error_text(exc: Exception) -> str:
    if isinstance(exc, MailboxError):
        text = str(exc)
    elif isinstance(exc, (OSError, imaplib.IMAP4.error)):
        text = _("The mail server stopped answering: %(error)s") % {"error": _text(exc) or type(exc).__name__}
    else:
        text = _("Reading a mail failed: %(error)s") % {"error": f"{type(exc).__name__}: {exc}"}
    return text[:ERROR_MAX_CHARS]


def mailboxes_due(*, now=None) -> list[int]:
    """Active mailboxes that are not backing off and not being read (system work: every dealer)."""
    now = now or timezone.now()
    return list(Mailbox.objects.unscoped().filter(is_active=True)
                .filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now))
                .filter(Q(poll_lease_until__isnull=True) | Q(poll_lease_until__lt=now))
                .order_by("pk").values_list("pk", flat=True))

