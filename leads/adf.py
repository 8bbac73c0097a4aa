"""Read ADF/XML 1.0 ("Auto-lead Data Format") lead documents posted by portals.

``parse_adf(body)`` turns the bytes of one ADF document into one ``AdfProspect`` per
``<prospect>``. Each carries ``data``, the lead in the JSON shape of
``POST /api/v1/leads/`` (only keys that have a value), and ``extras``, everything else
worth showing an operator. Deciding whether a prospect is a usable lead (e.g. has a
contact method) is the caller's job; this module only reads.

Real feeds stray far from the ADF 1.0 DTD, so reading is lenient: an ``<?adf?>``
processing instruction before the XML declaration, an encoding declaration that does
not match the bytes, elements in any order or case, namespaces, unknown vendor
elements and attributes, empty elements and non-ISO dates are all read. What cannot be
read safely is refused with ``AdfRefused``: oversized or empty bodies, any DTD or
entity declaration (XXE, entity expansion), XML that stays malformed after the
recoveries, and documents that are not ADF.

Pure Python: standard library plus ``defusedxml``; no Django, no database.
"""

from __future__ import annotations

import codecs
import itertools
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

if TYPE_CHECKING:  # types only: untrusted bytes never reach the stdlib parser
    from xml.etree.ElementTree import Element

MAX_BYTES = 1024 * 1024


class AdfRefused(Exception):
    """The document cannot be read at all.

    ``reason`` is a short human-readable English sentence; ``code`` is one of
    'too_large', 'empty', 'malformed', 'forbidden_dtd' (DTD / entity declarations /
    external entities), 'not_adf'.
    """

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class AdfProspect:
    """One ``<prospect>``.

    ``data`` holds only keys with a value, except ``customer``, which is always there (possibly
    empty). ``extras`` always has these keys: ``ids``, ``request_date_raw``, ``prospect_status``,
    ``phones``, ``emails``, ``address``, ``vehicles``, ``vendor``, ``provider``, ``timeframe``,
    ``finance``, ``unknown_elements`` and ``custom`` (text found inside unknown elements, by path).
    Strings in ``extras`` are as written (stripped); None means the element or attribute was absent.
    """

    index: int  # 0-based position of the <prospect> in the document
    data: dict  # the lead in the JSON shape of POST /api/v1/leads/
    extras: dict  # everything else worth keeping, JSON-serialisable


def parse_adf(body: bytes) -> list[AdfProspect]:
    """Read an ADF document; one ``AdfProspect`` per ``<prospect>``.

    Raises ``AdfRefused`` when the document can't be read (including a document with
    zero prospects, code 'not_adf').
    """
    if len(body) > MAX_BYTES:
        raise AdfRefused(
            "too_large", f"The document is {len(body)} bytes; the limit is {MAX_BYTES} bytes (1 MiB)."
        )
    if _is_blank(body):
        raise AdfRefused("empty", "The document is empty.")
    root = _parse_xml(body)
    _normalise_names(root)
    if root.tag != "adf":
        raise AdfRefused("not_adf", f"The root element is <{root.tag[:40]}>, not <adf>.")
    prospects = _children(root, "prospect")
    if not prospects:
        raise AdfRefused("not_adf", "The <adf> document contains no <prospect>.")
    return [_read_prospect(index, prospect) for index, prospect in enumerate(prospects)]


# --- Reading the bytes -------------------------------------------------------------

_BOMS = (  # UTF-32 first: its little-endian BOM starts with the UTF-16 one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_DECLARED_ENCODING = re.compile(
    rb"<\?xml\s[^>]{0,200}?encoding\s*=\s*[\"']([A-Za-z][A-Za-z0-9._-]{0,39})[\"']", re.IGNORECASE
)
# latin-1 decodes any byte, so at least one reading is always attempted.
_FALLBACK_ENCODINGS = ("utf-8", "windows-1252", "latin-1")
_XML_DECLARATION = re.compile(r"<\?xml\s.*?\?>", re.IGNORECASE | re.DOTALL)
_FIRST_ELEMENT = re.compile(r"<[^?!]")
_INVALID_XML_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _is_blank(body: bytes) -> bool:
    # NUL is dropped too, so that UTF-16 whitespace counts as blank.
    return not _strip_bom(body)[0].translate(None, b" \t\r\n\x00")


def _strip_bom(body: bytes) -> tuple[bytes, str | None]:
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :], encoding
    return body, None


def _parse_xml(body: bytes) -> Element:
    """Parse with defusedxml, trying each plausible decoding; the first that parses wins."""
    errors: list[ParseError] = []
    for text in _decodings(body):
        try:
            return fromstring(_repair_prolog(text), forbid_dtd=True)
        except DefusedXmlException as exc:
            raise AdfRefused(
                "forbidden_dtd",
                "The document contains a DTD or entity declaration, which is refused for security reasons.",
            ) from exc
        except ParseError as exc:
            errors.append(exc)
    # The decoding that got furthest is the likeliest reading, so its error is the useful one.
    deepest = max(errors, key=lambda exc: exc.position)
    raise AdfRefused("malformed", f"The document is not well-formed XML: {deepest}.")


def _decodings(body: bytes) -> Iterator[str]:
    """The body decoded with each candidate encoding that accepts its bytes, best guess first.

    Order: byte-order mark (or UTF-16 sniffed from NUL bytes), the declared encoding,
    then UTF-8, windows-1252 and latin-1 for declarations that lie.
    """
    content, bom_encoding = _strip_bom(body)
    candidates = [bom_encoding or _sniff_utf16(content), _declared_encoding(content), *_FALLBACK_ENCODINGS]
    tried: set[str] = set()
    for name in candidates:
        codec = _codec_name(name)
        if codec is None or codec in tried:
            continue
        tried.add(codec)
        try:
            text = content.decode(codec)
        except UnicodeDecodeError:
            continue
        yield text


def _sniff_utf16(content: bytes) -> str | None:
    # Without a BOM, UTF-16 text starting with an ASCII character shows a NUL on one side.
    if len(content) >= 2 and content[0] != 0 and content[1] == 0:
        return "utf-16-le"
    if len(content) >= 2 and content[0] == 0 and content[1] != 0:
        return "utf-16-be"
    return None


def _declared_encoding(content: bytes) -> str | None:
    match = _DECLARED_ENCODING.search(content[:1024])
    return match[1].decode("ascii") if match else None


def _codec_name(name: str | None) -> str | None:
    if name is None:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _repair_prolog(text: str) -> str:
    """Make decoded text parseable as a string, keeping every line and column in place.

    The XML declaration is blanked (its encoding no longer applies to decoded text, and
    feeds put it after an ``<?adf?>`` PI where strict parsers refuse it); characters XML
    forbids (control characters from copy-pasted form fields) become spaces.
    """
    root_start = _FIRST_ELEMENT.search(text)
    prolog_end = root_start.start() if root_start else len(text)
    prolog = _XML_DECLARATION.sub(_blank, text[:prolog_end])
    return _INVALID_XML_CHARS.sub(" ", prolog + text[prolog_end:])


def _blank(match: re.Match[str]) -> str:
    return re.sub(r"[^\n]", " ", match[0])


def _normalise_names(root: Element) -> None:
    """Lower-case tag and attribute names and drop namespaces, once, for the whole tree."""
    for element in root.iter():
        element.tag = _local_name(element.tag)
        if element.attrib:
            attributes = {_local_name(name): value for name, value in element.attrib.items()}
            element.attrib.clear()
            element.attrib.update(attributes)


def _local_name(name: str) -> str:
    return name.rpartition("}")[2].lower()


# --- Element helpers ---------------------------------------------------------------


def _children(element: Element | None, tag: str) -> list[Element]:
    return [] if element is None else [child for child in element if child.tag == tag]


def _child(element: Element | None, tag: str) -> Element | None:
    return next(iter(_children(element, tag)), None)


def _raw_text(element: Element | None) -> str | None:
    """All text inside the element (CDATA and nested elements included); None if absent."""
    return None if element is None else "".join(element.itertext())


def _text(element: Element | None) -> str | None:
    raw = _raw_text(element)
    return None if raw is None else raw.strip()


def _attr(element: Element | None, name: str) -> str | None:
    value = None if element is None else element.get(name)
    return None if value is None else value.strip()


def _is_yes(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


def _compact(values: dict) -> dict:
    """Drop absent values (None, empty string, empty dict); zero is a value."""
    return {key: value for key, value in values.items() if value is not None and value not in ("", {})}


# --- One prospect ------------------------------------------------------------------


def _read_prospect(index: int, prospect: Element) -> AdfProspect:
    customer = _child(prospect, "customer")
    contact = _primary_contact(customer)
    extras = _extras(prospect, customer, contact)
    data = _compact(
        {
            "external_id": _external_id(extras["ids"]),
            "received_at": (extras["request_date_raw"] or "").strip(),
        }
    )
    # Always present, possibly empty: whether a lead without contact is usable is the caller's call.
    data["customer"] = _customer_data(contact, customer, extras)
    data.update(
        _compact(
            {
                "vehicle": _vehicle_data(extras["vehicles"]),
                "trade_in": _trade_in_data(extras["vehicles"]),
                "message": _message(prospect, customer, contact),
            }
        )
    )
    return AdfProspect(index=index, data=data, extras=extras)


def _primary_contact(customer: Element | None) -> Element | None:
    contacts = _children(customer, "contact")
    primary = [contact for contact in contacts if _is_yes(contact.get("primarycontact"))]
    return next(iter(primary or contacts), None)


def _external_id(ids: list[dict]) -> str | None:
    filled = [record for record in ids if record["value"]]
    with_source = [record for record in filled if record["source"]]
    return next((record["value"] for record in with_source or filled), None)


def _message(prospect: Element, customer: Element | None, contact: Element | None) -> str | None:
    # Customer comments per ADF; some feeds put them on the prospect or in a custom contact <comment>.
    for element in (
        _child(customer, "comments"),
        _child(prospect, "comments"),
        _child(contact, "comment"),
        _child(contact, "comments"),
    ):
        text = textwrap.dedent(_raw_text(element) or "").strip()
        if text:
            return text
    return None


# --- Customer ----------------------------------------------------------------------

_NAME_PARTS = {
    "first": "first",
    "middle": "middle",
    "last": "last",
    "surname": "last",
    "suffix": "suffix",
    "full": "full",
}
_MOBILE_TYPES = frozenset({"cellphone", "mobile", "cell", "cellular"})
_VOICE_TYPES = frozenset({"", "voice", "phone"})
_UNCALLABLE_TYPES = frozenset({"fax", "pager"})
_LANGUAGE = re.compile(r"([A-Za-z]{2,3})(?:[_-].*)?", re.DOTALL)


def _customer_data(contact: Element | None, customer: Element | None, extras: dict) -> dict:
    first_name, last_name = _person_name(_name_parts(contact))
    return _compact(
        {
            "first_name": first_name,
            "last_name": last_name,
            "email": _best_email(extras["emails"]),
            "phone": _best_phone(extras["phones"]),
            "language": _language(_text(_child(contact, "locale")) or _text(_child(customer, "locale"))),
        }
    )


def _name_parts(owner: Element | None) -> dict[str, str]:
    """First non-empty ``<name>`` per part; ``type=`` is accepted where ``part=`` is meant."""
    parts: dict[str, str] = {}
    for element in _children(owner, "name"):
        text = " ".join((_text(element) or "").split())
        if text:
            parts.setdefault(_name_part(element), text)
    return parts


def _name_part(element: Element) -> str:
    for attribute in ("part", "type"):
        part = _NAME_PARTS.get((element.get(attribute) or "").strip().lower())
        if part:
            return part
    return "full"  # the DTD default; also covers type="individual"/"business"


def _person_name(parts: dict[str, str]) -> tuple[str | None, str | None]:
    if "first" in parts or "last" in parts:
        return parts.get("first"), parts.get("last")
    first, _, last = parts.get("full", "").rpartition(" ")
    return (first, last) if first else (last or None, None)


def _display_name(parts: dict[str, str]) -> str | None:
    if "full" in parts:
        return parts["full"]
    return " ".join(parts[part] for part in ("first", "middle", "last") if part in parts) or None


def _best_email(emails: list[dict]) -> str | None:
    preferred = [email for email in emails if email["preferred"]]
    return next((email["address"] for email in preferred or emails), None)


def _best_phone(phones: list[dict]) -> str | None:
    callable_phones = [phone for phone in phones if (phone["type"] or "").lower() not in _UNCALLABLE_TYPES]
    if not callable_phones:
        return None
    return min(callable_phones, key=_phone_rank)["number"]  # min() keeps document order on ties


def _phone_rank(phone: dict) -> tuple[bool, int]:
    kind = (phone["type"] or "").lower()
    tier = 0 if kind in _MOBILE_TYPES else 1 if kind in _VOICE_TYPES else 2
    return (not phone["preferred"], tier)


def _language(locale: str | None) -> str | None:
    """The language of a non-standard ``<locale>`` ("fr_CA" -> "fr")."""
    match = _LANGUAGE.fullmatch(locale or "")
    return match[1].lower() if match else None


# --- Vehicles ----------------------------------------------------------------------

_VEHICLE_TEXT_FIELDS = (
    "year",
    "make",
    "model",
    "vin",
    "stock",
    "trim",
    "doors",
    "bodystyle",
    "transmission",
    "condition",
    "pricecomments",
    "comments",
    "url",
)
_IDENTITY_FIELDS = ("make", "model", "year", "vin", "stock")
_KM_PER_MILE = 1.609344
_KM_PER_UNIT = {
    **dict.fromkeys(("", "km", "kms", "kilometers", "kilometres"), 1.0),
    **dict.fromkeys(("mi", "mile", "miles"), _KM_PER_MILE),
}
_NUMBER = re.compile(r"[$€£]?\s*(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?")


def _vehicle_record(vehicle: Element) -> dict:
    """Everything ADF says about one vehicle, as written (stripped strings; None when absent)."""
    record: dict = {
        "interest": _attr(vehicle, "interest"),
        "status": _attr(vehicle, "status"),
        "ids": [_id_record(element) for element in _children(vehicle, "id")],
    }
    record.update({field: _text(_child(vehicle, field)) for field in _VEHICLE_TEXT_FIELDS})
    record.update(
        odometer=_valued_record(_child(vehicle, "odometer")),
        colors=[_color_record(element) for element in _children(vehicle, "colorcombination")],
        imagetag=_valued_record(_child(vehicle, "imagetag")),
        price=_valued_record(_child(vehicle, "price")),
        options=[_option_record(element) for element in _children(vehicle, "option")],
        finance=_finance_record(_child(vehicle, "finance")),
    )
    return record


def _valued_record(element: Element | None) -> dict | None:
    """A leaf with attributes (price, odometer, amount, ...): its attributes plus its text as 'value'."""
    if element is None:
        return None
    return {**{name: value.strip() for name, value in element.attrib.items()}, "value": _text(element)}


def _color_record(element: Element) -> dict:
    return {
        "interior": _text(_child(element, "interiorcolor")),
        "exterior": _text(_child(element, "exteriorcolor")),
        "preference": _text(_child(element, "preference")),
    }


def _option_record(element: Element) -> dict:
    return {
        "name": _text(_child(element, "optionname")),
        "code": _text(_child(element, "manufacturercode")),
        "stock": _text(_child(element, "stock")),
        "weighting": _text(_child(element, "weighting")),
        "price": _valued_record(_child(element, "price")),
    }


def _finance_record(element: Element | None) -> dict | None:
    if element is None:
        return None
    return {
        "method": _text(_child(element, "method")),
        "amounts": [_valued_record(amount) for amount in _children(element, "amount")],
        "balance": _valued_record(_child(element, "balance")),
    }


def _is_trade(record: dict) -> bool:
    return re.sub(r"[^a-z]", "", (record["interest"] or "").lower()) in ("tradein", "sell")


def _vehicle_data(records: list[dict]) -> dict | None:
    """The first vehicle of interest (not the customer's own) that identifies a vehicle."""
    record = next((r for r in records if not _is_trade(r) and _identifies_a_vehicle(r)), None)
    if record is None:
        return None
    price = _number(record["price"]["value"]) if record["price"] else None
    return _compact(
        {
            "interest": (record["interest"] or "").lower(),
            "status": (record["status"] or "").lower(),
            "make": record["make"],
            "model": record["model"],
            "year": _year(record["year"]),
            "vin": record["vin"],
            "stock_number": record["stock"],
            "price": price,
            "currency": record["price"].get("currency") if price is not None else None,
            "mileage_km": _mileage_km(record["odometer"]),
            "url": record["url"],
        }
    )


def _identifies_a_vehicle(record: dict) -> bool:
    return any(record[field] for field in _IDENTITY_FIELDS)


def _trade_in_data(records: list[dict]) -> dict | None:
    """The first trade-in/sell vehicle that says anything in the contract's trade_in fields."""
    trades = (
        _compact(
            {
                "make": record["make"],
                "model": record["model"],
                "year": _year(record["year"]),
                "mileage_km": _mileage_km(record["odometer"]),
            }
        )
        for record in records
        if _is_trade(record)
    )
    return next((trade for trade in trades if trade), None)


def _number(text: str | None) -> float | None:
    """A plain non-negative amount ("59999.99", "$32,950"); None for anything else (incl. nan/inf)."""
    match = _NUMBER.fullmatch((text or "").strip())
    return float(match[1].replace(",", "") + (match[2] or "")) if match else None


def _year(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if re.fullmatch(r"\d{4}", text) else None


def _mileage_km(odometer: dict | None) -> int | None:
    if not odometer:
        return None
    distance = _number(odometer["value"])
    # The DTD says units="km|mi"; feeds also write unit="MILES".
    km_per_unit = _KM_PER_UNIT.get((odometer.get("units") or odometer.get("unit") or "").lower())
    if distance is None or km_per_unit is None:
        return None
    return round(distance * km_per_unit)


# --- Extras ------------------------------------------------------------------------


def _extras(prospect: Element, customer: Element | None, contact: Element | None) -> dict:
    vehicles = [_vehicle_record(element) for element in _children(prospect, "vehicle")]
    unknown, custom = _unknown_elements(prospect)
    return {
        "ids": [_id_record(element) for element in _children(prospect, "id")],
        "request_date_raw": _raw_text(_child(prospect, "requestdate")),
        "prospect_status": _attr(prospect, "status"),
        "phones": _phone_records(contact),
        "emails": _email_records(contact),
        "address": _address_record(_child(contact, "address")),
        "vehicles": vehicles,
        "vendor": _vendor_name(_child(prospect, "vendor")),
        "provider": _display_name(_name_parts(_child(prospect, "provider"))),
        "timeframe": _timeframe_record(_child(customer, "timeframe")),
        "finance": next((vehicle["finance"] for vehicle in vehicles if vehicle["finance"]), None),
        "unknown_elements": unknown,
        "custom": custom,
    }


def _id_record(element: Element) -> dict:
    return {
        "source": _attr(element, "source"),
        "sequence": _attr(element, "sequence"),
        "value": _text(element),
    }


def _phone_records(contact: Element | None) -> list[dict]:
    return [
        {
            "number": _text(element),
            "type": _attr(element, "type"),
            "time": _attr(element, "time"),
            "preferred": _is_yes(element.get("preferredcontact")),
        }
        for element in _children(contact, "phone")
        if _text(element)
    ]


def _email_records(contact: Element | None) -> list[dict]:
    return [
        {"address": _text(element), "preferred": _is_yes(element.get("preferredcontact"))}
        for element in _children(contact, "email")
        if _text(element)
    ]


def _address_record(address: Element | None) -> dict | None:
    if address is None:
        return None
    lines = (_text(street) for street in _children(address, "street"))
    return {
        "street": ", ".join(line for line in lines if line),
        "apartment": _text(_child(address, "apartment")),
        "city": _text(_child(address, "city")),
        "region": _text(_child(address, "regioncode")),
        "postal": _text(_child(address, "postalcode")),
        "country": _text(_child(address, "country")),
    }


def _vendor_name(vendor: Element | None) -> str | None:
    return _text(_child(vendor, "vendorname")) or _display_name(_name_parts(_child(vendor, "contact")))


def _timeframe_record(timeframe: Element | None) -> dict | None:
    if timeframe is None:
        return None
    return {field: _text(_child(timeframe, field)) for field in ("description", "earliestdate", "latestdate")}


# ADF nests at most 4 levels below <prospect>; the cap keeps paths (and time) bounded on hostile nesting.
_MAX_CUSTOM_DEPTH = 8
# Children each ADF 1.0 element may have (from the DTD); elements without an entry hold text only.
_ADF_CHILDREN: dict[str, frozenset[str]] = {
    "prospect": frozenset({"id", "requestdate", "vehicle", "customer", "vendor", "provider"}),
    "vehicle": frozenset(
        [
            "id",
            "year",
            "make",
            "model",
            "vin",
            "stock",
            "trim",
            "doors",
            "bodystyle",
            "transmission",
            "odometer",
            "condition",
            "colorcombination",
            "imagetag",
            "price",
            "pricecomments",
            "option",
            "finance",
            "comments",
        ]
    ),
    "colorcombination": frozenset({"interiorcolor", "exteriorcolor", "preference"}),
    "option": frozenset({"optionname", "manufacturercode", "stock", "weighting", "price"}),
    "finance": frozenset({"method", "amount", "balance"}),
    "customer": frozenset({"contact", "id", "timeframe", "comments"}),
    "contact": frozenset({"name", "email", "phone", "address"}),
    "address": frozenset({"street", "apartment", "city", "regioncode", "postalcode", "country"}),
    "timeframe": frozenset({"description", "earliestdate", "latestdate"}),
    "vendor": frozenset({"id", "vendorname", "url", "contact"}),
    "provider": frozenset({"id", "name", "service", "url", "email", "phone", "contact"}),
}


def _unknown_elements(prospect: Element) -> tuple[list[str], dict[str, str]]:
    """Elements ADF 1.0 does not define where they stand, and the text they hold.

    Returns the sorted tag names of the outermost such elements, and
    ``{path: text}`` for every non-empty text leaf inside them (first occurrence wins),
    e.g. ``{"customer/employment/employer": "Telus", "vehicle[0]/finance/term": "24"}``.
    """
    unknown: set[str] = set()
    custom: dict[str, str] = {}
    stack: list[tuple[Element, str, bool]] = [(prospect, "", False)]
    while stack:  # iterative: a hostile document may nest deeper than Python's recursion limit
        element, path, inside_unknown = stack.pop()
        if path.count("/") >= _MAX_CUSTOM_DEPTH:
            continue
        allowed = _ADF_CHILDREN.get(element.tag, frozenset())
        pending = []
        for child, child_path in _child_paths(element, path):
            is_known = not inside_unknown and child.tag in allowed
            if not is_known and not inside_unknown:
                unknown.add(child.tag)
            text = _text(child) if not is_known and len(child) == 0 else None
            if text:
                custom.setdefault(child_path, text)
            pending.append((child, child_path, not is_known))
        stack.extend(reversed(pending))  # reversed so that pop() walks in document order
    return sorted(unknown), custom


def _child_paths(element: Element, path: str) -> Iterator[tuple[Element, str]]:
    vehicle_numbers = itertools.count()
    for child in element:
        name = f"vehicle[{next(vehicle_numbers)}]" if child.tag == "vehicle" else child.tag
        yield child, f"{path}/{name}" if path else name
