"""Passive leads from the dealer's own data: a CSV of lease contracts ending, service customers or lost quotes.

`import_preview` checks every row and writes nothing. `import_run` checks them again and imports, all rows in one
transaction that is rolled back if any row has an error. A row's lead is identified by its `external_id` (or, without
one, a hash of its contact, reason and date) under the source "import", so re-importing a file creates nothing new:
the unique constraint on (dealer, source, external_id) decides. See docs/imports.md for the columns.
"""

import csv
import datetime as dt
import hashlib
import io
import json
import logging
import multiprocessing
import os
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field

import django
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from dealers import locks
from dealers.models import Dealer
from dealers.services import audit_record
from leads.matching import Candidate, customer_match
from leads.models import Channel, ContactKind, Customer, CustomerContact, EventType, Kind, Lead, LeadEvent, Queue, Reason
from leads.quality import EMAIL_INVALID, EMAIL_THROWAWAY, NormalisedContact, assess_contact, storable
from leads.scoring import score_lead
from leads.services import lead_intake, outbox_batch, parse_received_at, task_enqueue
from routing.services import ROUTING_FIELDS, lead_classify, lead_route_new, queue_for

from .models import ImportStatus, LeadImport

logger = logging.getLogger(__name__)

IMPORT_SOURCE = "import"
MAX_ROWS = 200_000
MAX_ERRORS_KEPT = 1000  # a file with thousands of bad rows has one problem; the first thousand show it
EXTERNAL_ID_MAX = 150
SAMPLE_ROWS = 5  # rows shown from a checked file, as a taste of what will be imported


def _key(text: str) -> str:
    """A header or reason as a lookup key: "E-mail adres" → "e_mail_adres"."""
    return re.sub(r"[\s\-./]+", "_", (text or "").strip().lstrip("\ufeff").lower()).strip("_")


# The columns, each with the names Dutch and English exports use for it.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "external_id": ("external_id", "externe_id", "extern_id", "referentie", "contractnummer", "dossiernummer", "offertenummer"),
    "first_name": ("first_name", "firstname", "voornaam", "roepnaam"),
    "infix": ("tussenvoegsel", "tussenvoegsels", "infix"),
    "last_name": ("last_name", "lastname", "surname", "achternaam"),
    "email": ("email", "e_mail", "emailadres", "e_mailadres", "e_mail_adres", "mail"),
    "phone": ("phone", "telephone", "telefoon", "telefoonnummer", "tel", "mobiel", "mobile", "gsm", "mobiele_nummer"),
    "reason": ("reason", "reden", "soort"),
    "due_date": ("due_date", "datum", "date", "einddatum", "vervaldatum", "einddatum_contract", "streefdatum"),
    "make": ("make", "merk", "brand"),
    "model": ("model",),
    "year": ("year", "bouwjaar", "jaar"),
    "license_plate": ("license_plate", "kenteken", "registration"),
    "note": ("note", "notes", "opmerking", "opmerkingen", "notitie", "toelichting"),
}
_COLUMN_BY_KEY = {_key(alias): column for column, aliases in COLUMN_ALIASES.items() for alias in aliases}

REASON_ALIASES: dict[str, tuple[str, ...]] = {
    Reason.LEASE_END: ("lease_end", "lease", "leaseeinde", "lease_einde", "einde_lease", "leasecontract"),
    Reason.LOST_SALE: ("lost_sale", "lost", "verloren", "verloren_offerte", "offerte", "gemiste_verkoop"),
    Reason.SERVICE: ("service", "onderhoud", "werkplaats", "servicekl ant", "serviceklant", "apk"),
    Reason.DATA_MINING: ("data_mining", "datamining"),
    Reason.CALLBACK: ("callback", "call_back", "terugbellen", "terugbelverzoek", "bel_terug"),
    Reason.OTHER: ("other", "overig", "overige", "anders"),
}
_REASON_BY_KEY = {_key(alias): str(reason) for reason, aliases in REASON_ALIASES.items() for alias in aliases}

MAX_LENGTHS = {"external_id": EXTERNAL_ID_MAX, "first_name": 150, "infix": 30, "last_name": 150, "email": 254, "phone": 64,
               "make": 100, "model": 100, "license_plate": 16, "note": 5000}

_DMY = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")
_YMD = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")


def parse_reason(value: str) -> str | None:
    return _REASON_BY_KEY.get(_key(value))


def parse_date(value: str) -> dt.date | None:
    """31-12-2026, 31/12/2026, 31.12.2026 (Dutch Excel) or 2026-12-31; None when it is none of them."""
    value = value.strip()
    try:
        if m := _YMD.match(value):
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        if m := _DMY.match(value):
            return dt.date(int(m[3]), int(m[2]), int(m[1]))
    except ValueError:
        return None
    return None


# ---------------------------------------------------------------------------------------------- reading the file

@dataclass(frozen=True)
class RowError:
    row: int  # as the spreadsheet numbers it: the header is row 1
    messages: tuple[str, ...]

    def __str__(self):
        return _("row %(row)s: %(errors)s") % {"row": self.row, "errors": "; ".join(self.messages)}


@dataclass
class ImportRow:
    row: int
    external_id: str
    reason: str
    data: dict  # the lead in the intake's shape, without received_at (set when the import runs)
    contact: NormalisedContact
    id_from_file: bool  # False: the id is a hash of contact, reason and date

    @property
    def reason_label(self) -> str:
        return Reason(self.reason).label


@dataclass
class ImportPreview:
    """What a file holds and what importing it would do. Counts only: 100,000 rows need not sit in memory."""

    filename: str
    sha256: str
    default_reason: str
    encoding: str = ""
    delimiter: str = ""
    columns: dict[str, str] = field(default_factory=dict)  # our column → the header as written in the file
    ignored_columns: list[str] = field(default_factory=list)
    file_errors: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    error_rows: int = 0  # every row with an error, also beyond the ones kept in `errors`
    data_rows: int = 0  # non-empty rows below the header
    leads_in_file: int = 0  # valid rows, one per lead (a row repeated in the file counts once)
    new_leads: int = 0  # of those, the ones not imported before
    duplicates_in_file: int = 0
    new_by_reason: Counter = field(default_factory=Counter)
    sample: list[ImportRow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.file_errors and not self.error_rows and self.leads_in_file > 0

    @property
    def already_imported(self) -> int:
        return self.leads_in_file - self.new_leads

    @property
    def counts_by_reason(self) -> dict[str, int]:
        return {str(reason): self.new_by_reason[reason] for reason in Reason.values if self.new_by_reason[reason]}


def _decode(content: bytes) -> tuple[str, str]:
    """UTF-8 (with or without BOM) or UTF-16 with BOM; else Windows-1252, which Dutch Excel writes."""
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        return content.decode("utf-16", "replace"), "utf-16"
    try:
        return content.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return content.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return content.decode("latin-1"), "latin-1"


def _sniff_delimiter(header_line: str) -> str:
    """Dutch Excel separates with `;`, most other tools with `,`; "Unicode text" uses tabs. The header decides."""
    counts = {d: header_line.count(d) for d in (";", ",", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _cell(record: list[str], index: int | None) -> str:
    if index is None or index >= len(record):
        return ""
    return record[index].strip()


def _stable_id(*, contact: NormalisedContact, reason: str, due_date: dt.date | None) -> str:
    """Without an external_id, the same customer, reason and date is the same passive lead."""
    phone = contact.phone_e164 or re.sub(r"\D", "", contact.phone_raw)
    basis = f"{contact.email}|{phone}|{reason}|{due_date.isoformat() if due_date else ''}"
    return "#" + hashlib.sha256(basis.encode()).hexdigest()[:32]


def _row(*, number: int, record: list[str], index: dict[str, int], header_len: int, default_reason: str,
         region: str) -> ImportRow | RowError:
    messages: list[str] = []
    values = {column: _cell(record, index.get(column)) for column in COLUMN_ALIASES}
    extra = [v for v in record[header_len:] if v.strip()]
    if extra:
        messages.append(_("has %(cells)s cells where the header has %(columns)s (a separator inside an unquoted cell?)")
                        % {"cells": len(record), "columns": header_len})
    for column, limit in MAX_LENGTHS.items():
        if len(values[column]) > limit:
            messages.append(_("%(column)s is longer than %(max)s characters") % {"column": column, "max": limit})
    if not values["email"] and not values["phone"]:
        messages.append(_("no e-mail or phone"))
    reason = default_reason
    if values["reason"]:
        reason = parse_reason(values["reason"])
        if reason is None:
            messages.append(_("unknown reason “%(value)s” (use one of: %(choices)s)")
                            % {"value": values["reason"][:40], "choices": ", ".join(Reason.values)})
    elif not default_reason:
        messages.append(_("no reason (fill in the reason column or choose a reason for the whole file)"))
    due_date = None
    if values["due_date"]:
        due_date = parse_date(values["due_date"])
        if due_date is None:
            messages.append(_("date “%(value)s” is not a date (write 31-12-2026 or 2026-12-31)")
                            % {"value": values["due_date"][:40]})
    year = None
    if values["year"]:
        year = int(values["year"]) if re.fullmatch(r"[0-9]{1,4}", values["year"]) else None
        if year is None or not 1886 <= year <= 2100:
            messages.append(_("year “%(value)s” is not a year") % {"value": values["year"][:40]})
    if messages:
        return RowError(row=number, messages=tuple(messages))

    last_name = " ".join(filter(None, [values["infix"], values["last_name"]]))[:150]
    contact = assess_contact(email=values["email"], phone=values["phone"], first_name=values["first_name"],
                             last_name=last_name, region=region)
    external_id = f"{reason}:{values['external_id']}" if values["external_id"] else \
        f"{reason}:{_stable_id(contact=contact, reason=reason, due_date=due_date)}"
    vehicle = {k: v for k, v in (("make", values["make"]), ("model", values["model"]), ("year", year),
                                 ("license_plate", values["license_plate"].upper())) if v}
    # The date goes into the message as text, not the reason's label: "lease" in a message would read as
    # financing interest to the BANT score.
    message = "\n".join(filter(None, [
        _("Date from the file: %(date)s") % {"date": due_date.strftime("%d-%m-%Y")} if due_date else "",
        values["note"]]))
    data = {
        "external_id": external_id,
        "channel": Channel.OUTBOUND.value,
        "reason": reason,
        "customer": {"first_name": values["first_name"], "last_name": last_name, "email": values["email"],
                     "phone": values["phone"]},
        "vehicle": vehicle,
        "message": message,
        "due_date": due_date.isoformat() if due_date else None,
        "import_row": number,
    }
    return ImportRow(row=number, external_id=external_id, reason=reason, data=data, contact=contact,
                     id_from_file=bool(values["external_id"]))


def _known_external_ids(*, dealer: Dealer, external_ids: list[str]) -> set[str]:
    """The ids among these (a chunk) that the dealer imported before."""
    if not external_ids:
        return set()
    if connection.vendor == "postgresql":  # one array parameter: the ORM's `__in` costs more than the query here
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT external_id FROM {Lead._meta.db_table} "
                           "WHERE dealer_id = %s AND source = %s AND external_id = ANY(%s)",
                           [dealer.pk, IMPORT_SOURCE, external_ids])
            return {row[0] for row in cursor.fetchall()}
    return set(Lead.objects.for_dealer(dealer).filter(source=IMPORT_SOURCE, external_id__in=external_ids)
               .values_list("external_id", flat=True))


CHUNK_ROWS = 5000
PARALLEL_MIN_ROWS = 20_000  # below this, starting worker processes costs more than it saves


@dataclass(frozen=True)
class _Layout:
    """How to read the rows: which cell is which column, and what applies to every row."""

    index: dict[str, int]
    header_len: int
    default_reason: str
    region: str
    language: str | None


def _validate_chunk(task: tuple[_Layout, list[tuple[int, list[str]]]]) -> list[ImportRow | RowError]:
    """Check one chunk of rows. Runs in a worker process for large files, so it only computes (no database)."""
    layout, records = task
    with translation.override(layout.language):
        return [_row(number=number, record=record, index=layout.index, header_len=layout.header_len,
                     default_reason=layout.default_reason, region=layout.region) for number, record in records]


def _open(preview: ImportPreview, content: bytes):
    """Decode the file and read its header; None (with a file error on the preview) when it cannot be imported."""
    if preview.default_reason and preview.default_reason not in Reason.values:
        preview.file_errors.append(_("Unknown reason for the whole file."))
        return None
    if content.startswith(b"PK\x03\x04"):
        preview.file_errors.append(_("This is an Excel workbook, not a CSV file: in Excel choose Save as → CSV."))
        return None
    text, preview.encoding = _decode(content)
    text = storable(text)  # a NUL in a cell is dropped, as the portal intake does, not a reason to fail the file
    if not text.strip():
        preview.file_errors.append(_("The file is empty."))
        return None
    preview.delimiter = _sniff_delimiter(text.split("\n", 1)[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=preview.delimiter)
    try:
        header = next(reader)
    except csv.Error as exc:
        preview.file_errors.append(_("The file cannot be read as CSV near line %(line)s: %(error)s")
                                   % {"line": reader.line_num, "error": exc})
        return None
    index: dict[str, int] = {}
    for i, name in enumerate(header):
        column = _COLUMN_BY_KEY.get(_key(name))
        if column and column not in index:
            index[column] = i
            preview.columns[column] = name.strip().lstrip("\ufeff")
        elif name.strip():
            preview.ignored_columns.append(name.strip().lstrip("\ufeff"))
    if "email" not in index and "phone" not in index:
        preview.file_errors.append(_("The file has no column for e-mail or phone. Columns found: %(columns)s")
                                   % {"columns": ", ".join(h.strip() for h in header if h.strip())[:300] or "-"})
        return None
    return reader, index, len(header)


def _record_chunks(preview: ImportPreview, reader):
    """The non-empty rows with their spreadsheet row number (the header is row 1), CHUNK_ROWS at a time."""
    chunk: list[tuple[int, list[str]]] = []
    number = 1
    try:
        for number, record in enumerate(reader, start=2):
            if not any(cell.strip() for cell in record):
                continue
            preview.data_rows += 1
            if preview.data_rows > MAX_ROWS:
                preview.file_errors.append(_("The file has more than %(max)s rows; split it.") % {"max": MAX_ROWS})
                return
            chunk.append((number, record))
            if len(chunk) == CHUNK_ROWS:
                yield chunk
                chunk = []
    except csv.Error as exc:
        preview.file_errors.append(_("The file cannot be read as CSV near row %(row)s: %(error)s")
                                   % {"row": number + 1, "error": exc})
        return
    if chunk:
        yield chunk


def _checked_chunks(*, preview: ImportPreview, content: bytes, dealer: Dealer, workers: int | None, writing: bool):
    """Every row checked, in file order, a chunk at a time: yields each chunk's valid rows (one per lead).

    Errors are collected on the preview. A large file is checked by `workers` worker processes (0: in this process;
    None: for large files one per core, less one while writing) — phone-number parsing is most of the work — so the
    caller can write one chunk while the next ones are being checked.
    """
    opened = _open(preview, content)
    if opened is None:
        return
    reader, index, header_len = opened
    layout = _Layout(index=index, header_len=header_len, default_reason=preview.default_reason, region=dealer.country,
                     language=translation.get_language())
    tasks = ((layout, chunk) for chunk in _record_chunks(preview, reader))
    if workers is None and content.count(b"\n") < PARALLEL_MIN_ROWS:
        workers = 0
    elif workers is None:
        # While importing, one core stays for this process (it writes) and PostgreSQL; the others check rows.
        workers = min(max((os.cpu_count() or 1) - (1 if writing else 0), 1), 4)
    if multiprocessing.current_process().daemon:
        workers = 0  # e.g. inside a Celery worker: a daemonic process may not start processes of its own
    seen: dict[str, int] = {}
    pool = None
    if workers > 0:
        # spawn, not fork: forking a web server's process (threads, an open database connection) is not safe.
        pool = multiprocessing.get_context("spawn").Pool(workers, initializer=django.setup)
    try:
        results = pool.imap(_validate_chunk, tasks) if pool else map(_validate_chunk, tasks)
        for checked in results:
            accepted: list[ImportRow] = []
            for result in checked:
                if isinstance(result, ImportRow) and result.external_id in seen:
                    if not result.id_from_file:
                        preview.duplicates_in_file += 1  # the same customer, reason and date twice: one lead
                        continue
                    result = RowError(row=result.row, messages=(
                        _("external id “%(value)s” is also on row %(row)s")
                        % {"value": result.external_id.split(":", 1)[1][:60], "row": seen[result.external_id]},))
                if isinstance(result, RowError):
                    preview.error_rows += 1
                    if len(preview.errors) < MAX_ERRORS_KEPT:
                        preview.errors.append(result)
                    continue
                seen[result.external_id] = result.row
                accepted.append(result)
            preview.leads_in_file += len(accepted)
            if len(preview.sample) < SAMPLE_ROWS:
                preview.sample.extend(accepted[:SAMPLE_ROWS - len(preview.sample)])
            yield accepted
    finally:
        if pool is not None:
            pool.terminate()
    if not preview.data_rows and not preview.file_errors:
        preview.file_errors.append(_("The file has no rows below its header."))


def _scan(*, dealer: Dealer, content: bytes, filename: str, default_reason: str, workers: int | None,
          write=None) -> ImportPreview:
    """Check the whole file; while no error has turned up, hand each chunk's new rows to `write`."""
    preview = ImportPreview(filename=filename, sha256=hashlib.sha256(content).hexdigest(), default_reason=default_reason)
    for rows in _checked_chunks(preview=preview, content=content, dealer=dealer, workers=workers, writing=write is not None):
        known = _known_external_ids(dealer=dealer, external_ids=[r.external_id for r in rows])
        new = [r for r in rows if r.external_id not in known]
        preview.new_leads += len(new)
        preview.new_by_reason.update(r.reason for r in new)
        if write is not None and not preview.error_rows and not preview.file_errors:
            write(new)
    return preview


def import_preview(*, dealer: Dealer, content: bytes, filename: str = "", default_reason: str = "",
                   workers: int | None = None) -> ImportPreview:
    """Read and check the whole file. Nothing is written; `.ok` says whether it may be imported."""
    return _scan(dealer=dealer, content=content, filename=filename, default_reason=default_reason, workers=workers)


# ---------------------------------------------------------------------------------------------- importing

class ImportInvalid(Exception):
    """The file has errors; nothing was imported. `.preview` lists them."""

    def __init__(self, preview: ImportPreview):
        super().__init__("the file has errors")
        self.preview = preview


def _lock_dealer_imports(dealer: Dealer) -> None:
    """Two imports for one dealer run one after the other, so "already imported" is decided on committed data.

    An advisory lock, not a row lock on the dealer: routing locks that row for every active lead, and a long
    import must not hold up the portals.
    """
    locks.advisory_xact_lock(locks.IMPORTS, dealer.pk)


class _RowByRowWriter:
    """Each row through the same intake and routing as a portal's lead."""

    def __init__(self, *, dealer: Dealer, received_at: str):
        self.dealer, self.received_at, self.created = dealer, received_at, 0

    def __call__(self, rows: list[ImportRow]) -> None:
        for row in rows:
            result = lead_intake(dealer=self.dealer, source=IMPORT_SOURCE, data={**row.data, "received_at": self.received_at},
                                 route=lead_route_new)
            self.created += result.created

class _KnownCustomer:
    """A customer the bulk writer may link rows to: one in the database, or one this chunk creates (`new`)."""

    def __init__(self, *, pk=None, first_name="", last_name="", email="", phone="", new: dict | None = None):
        self.pk, self.first_name, self.last_name, self.email, self.phone, self.new = (
            pk, first_name, last_name, email, phone, new)
        self.keys: set[tuple[str, str]] = set()  # (kind, value): its own e-mail and phone, and its contact points


class _CustomerIndex:
    """The dealer's customers by e-mail and phone (own field or contact point), as `lead_intake` looks them up, plus
    those this chunk creates or teaches a new address: one query for a chunk instead of one per row."""

    def __init__(self, *, dealer: Dealer, emails: set[str], phones: set[str]):
        self.by_key: dict[tuple[str, str], list[_KnownCustomer]] = {}
        self.order: list[_KnownCustomer] = []
        if not emails and not phones:
            return
        customers, contacts = Customer._meta.db_table, CustomerContact._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT c.id, c.first_name, c.last_name, c.email, c.phone, k.kind, k.value FROM {customers} c "
                f"LEFT JOIN {contacts} k ON k.customer_id = c.id WHERE c.id IN ("
                f"SELECT id FROM {customers} WHERE dealer_id = %s AND (email = ANY(%s) OR phone = ANY(%s)) UNION "
                f"SELECT customer_id FROM {contacts} WHERE dealer_id = %s AND ((kind = %s AND value = ANY(%s)) "
                "OR (kind = %s AND value = ANY(%s)))) ORDER BY c.id",
                [dealer.pk, list(emails), list(phones), dealer.pk, ContactKind.EMAIL, list(emails), ContactKind.PHONE,
                 list(phones)])
            rows = cursor.fetchall()
        by_pk: dict[int, _KnownCustomer] = {}
        for pk, first_name, last_name, email, phone, kind, value in rows:
            known = by_pk.get(pk)
            if known is None:
                known = by_pk[pk] = _KnownCustomer(pk=pk, first_name=first_name, last_name=last_name, email=email,
                                                   phone=phone)
                self.order.append(known)
                self.add(known, ContactKind.EMAIL, email)
                self.add(known, ContactKind.PHONE, phone)
            if kind:
                self.add(known, kind, value)

    def add(self, known: _KnownCustomer, kind: str, value: str) -> None:
        if value and (kind, value) not in known.keys:
            known.keys.add((kind, value))
            self.by_key.setdefault((kind, value), []).append(known)

    def candidates(self, email: str, phone: str) -> list[_KnownCustomer]:
        found = {id(k): k for key in ((ContactKind.EMAIL, email), (ContactKind.PHONE, phone)) if key[1]
                 for k in self.by_key.get(key, [])}
        position = {id(k): i for i, k in enumerate(self.order)}  # oldest first, as the intake orders them
        return sorted(found.values(), key=lambda k: position[id(k)])


def _copy_escape(text: str) -> str:
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if "\t" in text:
        text = text.replace("\t", "\\t")
    if "\n" in text:
        text = text.replace("\n", "\\n")
    if "\r" in text:
        text = text.replace("\r", "\\r")
    return text


class _Rendered(str):
    """A value already in COPY text format (rendered once for values that many rows share)."""


def _copy_text(value) -> str:
    """One value in PostgreSQL's COPY text format (called ~40 times a row: the common cases first)."""
    kind = type(value)
    if kind is str:
        return _copy_escape(value)
    if kind is _Rendered:
        return value
    if value is None:
        return "\\N"
    if kind is bool:
        return "t" if value else "f"
    if kind is int:
        return str(value)
    if kind is dict or kind is list:
        return json.dumps(value).replace("\\", "\\\\")  # JSON escapes control characters itself
    if kind is dt.datetime:
        return value.isoformat()
    if kind is uuid.UUID:
        return str(value)
    return _copy_escape(str(value))


class _CopyStream:
    """A file for COPY that renders its lines only as PostgreSQL asks for more, so the server stores one batch
    while Python renders the next (two processes, two cores) instead of waiting for each other.
    """

    def __init__(self, lines):
        self._lines = iter(lines)
        self._rest = ""

    def read(self, size: int = -1) -> str:
        parts, length = [self._rest], len(self._rest)
        for line in self._lines:
            parts.append(line)
            length += len(line)
            if 0 < size <= length:
                break
        text = "".join(parts)
        if 0 < size < len(text):
            text, self._rest = text[:size], text[size:]
        else:
            self._rest = ""
        return text

    readline = read


def _insert(model, rows: list[dict], *, common: dict | None = None) -> None:
    """Insert plain rows (attname → value) with COPY on PostgreSQL; `common` holds the values every row shares,
    the model's defaults fill the rest. COPY skips the ORM's per-object work, most of the time at 100,000 rows.
    """
    common = common or {}
    if not rows:
        return
    per_row = list(rows[0])
    shared = dict(common)
    for f in model._meta.concrete_fields:
        if f.attname in per_row or f.attname in shared or f.primary_key:
            continue  # an id not given is numbered by the database
        if f.has_default() and callable(f.default) and f.default not in (dict, list):
            raise ValueError(f"{model.__name__}.{f.attname} needs a value per row")
        shared[f.attname] = f.get_default()
    column_of = {f.attname: f.column for f in model._meta.concrete_fields}
    columns = ", ".join(connection.ops.quote_name(column_of[name]) for name in [*per_row, *shared])
    sql = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN"
    suffix = "".join("\t" + _copy_text(value) for value in shared.values()) + "\n"
    lines = ("\t".join([_copy_text(row[name]) for name in per_row]) + suffix for row in rows)
    with connection.cursor() as cursor:
        cursor.copy_expert(sql, _CopyStream(lines), size=64 * 1024)


def _new_customer_ids(count: int) -> list[int]:
    """Ids from the customer table's own sequence, so leads can point at customers inserted in the same COPY run."""
    if not count:
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                       [Customer._meta.db_table, count])
        return [row[0] for row in cursor.fetchall()]


class _BulkWriter:
    """The same customers, leads and timeline as `_RowByRowWriter`, for passive leads that wait unassigned in the BDC
    queue, with a few COPY statements per chunk instead of ~20 queries a row (PostgreSQL only).
    tests/followup/test_import.py compares the two field by field.
    """

    def __init__(self, *, dealer: Dealer, received_at: str):
        self.dealer, self.received_at, self.created = dealer, received_at, 0
        self.now = timezone.now()
        self.received, self.received_raw = parse_received_at(received_at)
        # Routing by the one routing decision (routing.services.lead_route_new), taken once: every row arrives at the
        # same moment as a passive lead that waits unassigned in the BDC queue, so they all get the same fields.
        probe = Lead(dealer=dealer, received_at=self.received, channel=Channel.OUTBOUND, reason=Reason.OTHER)
        routed = lead_route_new(lead=probe)
        if probe.queue != Queue.BDC or probe.assignee_id is not None:
            raise ValueError("the bulk import is for leads that wait unassigned in the BDC queue (see _bulk_fits)")
        self.kind, self.queue = probe.kind, probe.queue
        self.routing = {Lead._meta.get_field(name).attname: getattr(probe, Lead._meta.get_field(name).attname)
                        for name in ROUTING_FIELDS}
        self.routed_events = [(event.type, event.text, _Rendered(_copy_text(event.data))) for event in routed.events]
        self.new_contacts: dict[tuple, dict] = {}

    def _customers(self, rows: list[ImportRow]) -> list[tuple[ImportRow, _KnownCustomer, bool]]:
        """Each row's customer by the intake's rule (`leads.matching`): an existing one, or one created here."""
        dealer = self.dealer
        index = _CustomerIndex(dealer=dealer, emails={r.contact.email for r in rows if r.contact.email},
                               phones={r.contact.phone_e164 for r in rows if r.contact.phone_e164})
        links: list[tuple[ImportRow, _KnownCustomer, bool]] = []
        new_customers: list[dict] = []
        self.new_contacts: dict[tuple, dict] = {}
        fills: dict[int, dict] = {}
        for row in rows:  # in file order: a customer created for an earlier row is known to the later ones
            email, phone = row.contact.email[:254], row.contact.phone_e164
            customer_data = row.data["customer"]
            first_name = (customer_data.get("first_name") or "")[:150]
            last_name = (customer_data.get("last_name") or "")[:150]
            candidates = index.candidates(email, phone)
            match = customer_match(
                first_name=first_name, last_name=last_name, email=email, phone=phone,
                email_usable=not ({EMAIL_INVALID, EMAIL_THROWAWAY} & set(row.contact.flags)),
                candidates=[Candidate(id=i, first_name=k.first_name, last_name=k.last_name,
                                      has_email=(ContactKind.EMAIL, email) in k.keys,
                                      has_phone=(ContactKind.PHONE, phone) in k.keys) for i, k in enumerate(candidates)])
            if match is not None:
                known = candidates[match.id]
                links.append((row, known, True))
                for kind, value, own, raw in ((ContactKind.EMAIL, email, known.email, email),
                                              (ContactKind.PHONE, phone, known.phone, row.contact.phone_raw)):
                    if value and value != own:
                        self.new_contacts.setdefault((id(known), kind, value), {"known": known, "kind": kind,
                                                                                 "value": value, "raw": raw[:254],
                                                                                 "row": row})
                        index.add(known, kind, value)
                if not known.first_name and not known.last_name and (first_name or last_name):
                    known.first_name, known.last_name = first_name, last_name  # a nameless record learns the name
                    if known.new is not None:
                        known.new.update(first_name=first_name, last_name=last_name)
                    else:
                        fills[known.pk] = {"first_name": first_name, "last_name": last_name}
                continue
            customer = {"dealer_id": dealer.pk, "first_name": first_name, "last_name": last_name, "email": email,
                        "phone": phone, "phone_raw": (customer_data.get("phone") or "")[:64], "preferred_contact": "",
                        "language": "", "created_at": self.now}
            new_customers.append(customer)
            known = _KnownCustomer(first_name=first_name, last_name=last_name, email=email, phone=phone, new=customer)
            index.order.append(known)
            index.add(known, ContactKind.EMAIL, email)
            index.add(known, ContactKind.PHONE, phone)
            links.append((row, known, False))
        for customer, pk in zip(new_customers, _new_customer_ids(len(new_customers)), strict=True):
            customer["id"] = pk
        for known in index.order:
            if known.new is not None:
                known.pk = known.new["id"]
        _insert(Customer, new_customers)
        for pk, fill in fills.items():
            Customer.objects.for_dealer(dealer).filter(pk=pk, first_name="", last_name="").update(**fill)
        return links

    def _contacts_save(self, lead_ids: dict[int, uuid.UUID]) -> None:
        """The further addresses and numbers rows taught known customers, once their leads are stored."""
        if not self.new_contacts:
            return
        now = self.now
        CustomerContact.objects.bulk_create(
            [CustomerContact(dealer_id=self.dealer.pk, customer_id=c["known"].pk, kind=c["kind"], value=c["value"],
                             raw=c["raw"], first_seen_at=now, last_seen_at=now, lead_id=lead_ids[id(c["row"])])
             for c in self.new_contacts.values()],
            update_conflicts=True, unique_fields=["dealer", "customer", "kind", "value"], update_fields=["last_seen_at"])

    def __call__(self, rows: list[ImportRow]) -> None:
        if not rows:
            return
        dealer_id, now = self.dealer.pk, self.now
        leads: list[dict] = []
        events: list[dict] = []
        links = self._customers(rows)
        lead_ids: dict[int, uuid.UUID] = {}
        random = os.urandom(16 * len(links))  # one system call for the chunk's uuid4 ids instead of one per lead
        rendered: dict = {}  # a handful of distinct flag lists, each rendered once
        for i, (row, customer, known) in enumerate(links):
            data = {**row.data, "received_at": self.received_at}
            score = score_lead(data)
            lead_id = _Rendered(uuid.UUID(bytes=random[16 * i:16 * i + 16], version=4))
            flags = row.contact.flags
            if (flags, known) not in rendered:
                rendered[flags, known] = (_Rendered(_copy_text(list(flags))),
                                          _Rendered(_copy_text({"flags": list(flags), "returning_customer": known})))
            flags_text, received_data = rendered[flags, known]
            lead_ids[id(row)] = uuid.UUID(str(lead_id))
            customer_data = row.data["customer"]
            leads.append({
                "id": lead_id, "customer_id": customer.pk,
                "contact_first_name": (customer_data.get("first_name") or "")[:150],
                "contact_last_name": (customer_data.get("last_name") or "")[:150],
                "contact_email": row.contact.email[:254], "contact_phone": row.contact.phone_e164,
                "contact_phone_raw": row.contact.phone_raw[:64], "contact_preferred": "", "contact_language": "",
                "external_id": row.external_id, "channel": data["channel"], "reason": data["reason"],
                "vehicle": data.get("vehicle") or {}, "message": data.get("message") or "", "data_flags": flags_text,
                "bant_budget": score.budget, "bant_authority": score.authority, "bant_need": score.need,
                "bant_timeline": score.timeline, "score": score.total, "returning_customer": known, "payload": data,
            })
            events.append({"lead_id": lead_id, "type": EventType.RECEIVED, "text": IMPORT_SOURCE, "data": received_data})
            events.extend({"lead_id": lead_id, "type": type_, "text": text, "data": data}
                          for type_, text, data in self.routed_events)
        _insert(Lead, leads, common={
            "dealer_id": dealer_id, "source": IMPORT_SOURCE, "received_at": self.received,
            "received_at_raw": self.received_raw[:100], "created_at": now, "trade_in": {}, "consent_marketing": None,
            **self.routing})
        _insert(LeadEvent, events, common={"dealer_id": dealer_id, "actor_id": None, "at": now})
        self._contacts_save(lead_ids)
        self.created += len(leads)


def _bulk_fits(dealer: Dealer) -> bool:
    """The bulk path covers leads that wait unassigned in the BDC queue (a sales-only dealer's go to salespeople),
    on PostgreSQL (COPY); the embedded SQLite of the quick start takes the row-by-row path.
    """
    kind = lead_classify(channel=Channel.OUTBOUND, reason=Reason.OTHER)
    return connection.vendor == "postgresql" and kind == Kind.PASSIVE and queue_for(dealer=dealer, kind=kind) == Queue.BDC


def import_run(*, dealer: Dealer, by, content: bytes | None, filename: str = "", default_reason: str = "",
               bulk: bool = True, workers: int | None = None, into: LeadImport | None = None) -> LeadImport | None:
    """Check every row and import each new one as a passive lead, all in one transaction.

    Rows are written while the rest of the file is still being checked; the first bad row stops the writing and
    the transaction is rolled back, so a file with any error imports nothing (ImportInvalid lists the errors).
    Rows imported before create nothing. `into`: a queued upload to run and record, its file read from the row
    once locked (returns None when it is no longer queued, or another worker is running it); without it a new,
    done LeadImport records the run.
    """
    # Notices (sales-only dealers' salespeople) go out in one outbox flush once the transaction has committed.
    with outbox_batch(), transaction.atomic():
        if into is not None:  # held until commit: a redelivered task skips it instead of importing twice
            locked = (LeadImport.objects.unscoped().select_for_update(skip_locked=True)
                      .filter(pk=into.pk, status=ImportStatus.QUEUED).values_list("content", flat=True).first())
            if locked is None:
                return None
            content = bytes(locked)
        _lock_dealer_imports(dealer)
        received_at = timezone.now().isoformat()
        writer_class = _BulkWriter if bulk and _bulk_fits(dealer) else _RowByRowWriter
        writer = writer_class(dealer=dealer, received_at=received_at)
        preview = _scan(dealer=dealer, content=content, filename=filename, default_reason=default_reason,
                        workers=workers, write=writer)
        if not preview.ok:
            raise ImportInvalid(preview)  # rolls back whatever was written before the bad row turned up
        lead_import = into or LeadImport(dealer=dealer, uploaded_by=by, filename=filename[:255],
                                         default_reason=default_reason)
        lead_import.file_sha256 = preview.sha256
        lead_import.rows, lead_import.created_leads = preview.data_rows, writer.created
        lead_import.known_leads = preview.data_rows - writer.created
        lead_import.counts_by_reason = preview.counts_by_reason
        lead_import.status, lead_import.content, lead_import.finished_at = ImportStatus.DONE, b"", timezone.now()
        lead_import.waiting_since = None
        lead_import.save()
        audit_record(dealer=dealer, actor=by, action="leads.imported", target=filename[:200],
                     changes={"rows": preview.data_rows, "created": writer.created, "sha256": preview.sha256})
    return lead_import


# ---------------------------------------------------------------------------------------------- the page's imports
# A file uploaded on the page is checked and imported by the worker: 100,000 rows take longer than a web request
# may (gunicorn and proxies cut requests off at 30-60 s). The upload waits in its LeadImport row meanwhile.

ERRORS_KEPT = 200
RESUME_AFTER = dt.timedelta(minutes=2)  # waiting this long for the worker: hand it the task again
GIVE_UP_AFTER = dt.timedelta(hours=1)  # still not checked or imported: say so, and drop the file
UNCONFIRMED_KEPT = dt.timedelta(days=1)  # a checked file nobody confirmed: customers' data is not kept longer


def _summary(preview: ImportPreview) -> dict:
    """The check's result as the preview page shows it (JSON: it waits in the row until the manager confirms)."""
    return {
        "ok": preview.ok, "filename": preview.filename, "encoding": preview.encoding, "delimiter": preview.delimiter,
        "columns": list(preview.columns.items()),  # pairs, in the file's order (a JSON object's keys lose it)
        "ignored_columns": preview.ignored_columns,
        "file_errors": [str(e) for e in preview.file_errors], "errors": [str(e) for e in preview.errors[:ERRORS_KEPT]],
        "error_rows": preview.error_rows, "data_rows": preview.data_rows, "new_leads": preview.new_leads,
        "already_imported": preview.already_imported, "duplicates_in_file": preview.duplicates_in_file,
        "counts_by_reason": preview.counts_by_reason, "default_reason": preview.default_reason,
        "sample": [{"row": r.row, "data": r.data, "reason_label": str(r.reason_label)} for r in preview.sample[:SAMPLE_ROWS]],
    }


def _give_up(queryset, *, error: str, **changes) -> int:
    """Not imported: the reason, and the file dropped (it holds customers' personal data)."""
    return queryset.update(status=ImportStatus.FAILED, error=error, content=b"", waiting_since=None,
                           finished_at=timezone.now(), **changes)


def import_upload(*, dealer: Dealer, by, content: bytes, filename: str, default_reason: str = "",
                  language: str = "") -> LeadImport:
    """Keep an uploaded file and have the worker check it (nothing is imported before the manager confirms)."""
    lead_import = LeadImport.objects.create(
        dealer=dealer, uploaded_by=by, filename=filename[:255], file_sha256=hashlib.sha256(content).hexdigest(),
        default_reason=default_reason, status=ImportStatus.CHECKING, content=content, language=language[:8],
        waiting_since=timezone.now())
    transaction.on_commit(lambda: task_enqueue("followup.tasks.lead_import_check", lead_import.pk))
    return lead_import


def import_check(*, lead_import_id: int) -> LeadImport | None:
    """The worker checks an uploaded file: the preview, in the uploader's language, kept on the row. A file with
    errors is not imported (and not kept); the page lists its errors.

    No transaction is held while checking (it only reads): a second delivery of the task may check in parallel,
    and only the first to finish records its result."""
    lead_import = (LeadImport.objects.unscoped().select_related("dealer")
                   .filter(pk=lead_import_id, status=ImportStatus.CHECKING).first())
    if lead_import is None:
        return None
    waiting = LeadImport.objects.unscoped().filter(pk=lead_import_id, status=ImportStatus.CHECKING)
    with translation.override(lead_import.language or None):
        try:
            preview = import_preview(dealer=lead_import.dealer, content=bytes(lead_import.content),
                                     filename=lead_import.filename, default_reason=lead_import.default_reason)
        except Exception:
            logger.exception("Checking import %s failed", lead_import_id)
            _give_up(waiting, error=_("The file could not be checked because of an internal error. Please upload it again."))
            return None
        summary = _summary(preview)
        if not preview.ok:
            _give_up(waiting, error=_("The file has errors; nothing was imported. Correct it and upload it again."),
                     summary=summary, rows=preview.data_rows)
            return None
    waiting.update(status=ImportStatus.CHECKED, summary=summary, rows=preview.data_rows, waiting_since=None)
    return lead_import


def import_confirm(*, lead_import: LeadImport) -> bool:
    """The manager's go for a checked file: the worker imports it. False if it is not (or no longer) waiting for it."""
    queued = LeadImport.objects.for_dealer(lead_import.dealer_id).filter(pk=lead_import.pk, status=ImportStatus.CHECKED).update(
        status=ImportStatus.QUEUED, waiting_since=timezone.now())
    if queued:
        transaction.on_commit(lambda: task_enqueue("followup.tasks.lead_import_run", lead_import.pk))
    return bool(queued)


def import_queued_run(*, lead_import_id: int) -> LeadImport | None:
    """The worker imports a confirmed file. A file that turns out wrong now imports nothing and says why."""
    lead_import = (LeadImport.objects.unscoped().select_related("dealer", "uploaded_by").defer("content")  # read once locked
                   .filter(pk=lead_import_id, status=ImportStatus.QUEUED).first())
    if lead_import is None:
        return None
    waiting = LeadImport.objects.unscoped().filter(pk=lead_import_id, status=ImportStatus.QUEUED)
    with translation.override(lead_import.language or None):
        try:
            return import_run(dealer=lead_import.dealer, by=lead_import.uploaded_by, content=None,
                              filename=lead_import.filename, default_reason=lead_import.default_reason, into=lead_import)
        except ImportInvalid as invalid:
            _give_up(waiting, error=_("The file has errors now; nothing was imported."), summary=_summary(invalid.preview))
        except Exception:
            logger.exception("Import %s failed", lead_import_id)
            _give_up(waiting, error=_("The import stopped on an internal error; nothing was imported. "
                                      "Please upload the file again."))
    return None


def imports_tend(*, now: dt.datetime | None = None) -> int:
    """Beat's round over the uploads: hand the worker again what still waits for it (after a broker outage; a running
    one is skipped, not doubled), give up on what waited too long, and drop files nobody confirmed within a day.
    Returns how many tasks were handed out again."""
    now = now or timezone.now()
    waiting = LeadImport.objects.unscoped().filter(status__in=[ImportStatus.CHECKING, ImportStatus.QUEUED])
    _give_up(waiting.filter(waiting_since__lt=now - GIVE_UP_AFTER),
             error=_("The worker could not finish this file; nothing was imported. Please upload it again."))
    _give_up(LeadImport.objects.unscoped().filter(status=ImportStatus.CHECKED, created_at__lt=now - UNCONFIRMED_KEPT),
             error=_("Not confirmed within a day, so the file was not kept. Upload it again to import it."))
    count = 0
    for pk, status in waiting.filter(waiting_since__lt=now - RESUME_AFTER).values_list("pk", "status"):
        task = "followup.tasks.lead_import_check" if status == ImportStatus.CHECKING else "followup.tasks.lead_import_run"
        task_enqueue(task, pk)
        count += 1
    return count
