"""The registry of portal parsers. Adding a portal = adding a module with `SOURCE`, `matches(mail)` and
`parse(mail) -> Parsed`, and naming it in `REGISTRY` (order matters: the first module that matches reads the mail).

Shared here: the result type and the label reader most portals need (`lead_from_labels`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ... import adf
from .. import fields as f
from ..mime import Mail

KINDS = ("lead", "call", "trade_in", "test_drive", "callback", "review")
ROBOT = re.compile(r"^(no[-_.]?reply|do[-_.]?not[-_.]?reply|donotreply|mailer[-_.]?daemon|postmaster|bounces?|"
                   r"notifications?|notificaties|nieuwsbrief|newsletter|marketing|alerts?)([-_.+].*)?$", re.I)
MARKETING = re.compile(r"verkoopkansen|advertentiekwaliteit|kwaliteit van (je|uw) advertentie|nieuwsbrief|newsletter|"
                       r"webinar|maandoverzicht|weekoverzicht|statistieken van (je|uw)|your monthly|market insights|"
                       r"tips voor (je|uw)|boost (je|uw) advertentie|speciale aanbieding", re.I)
ANSWERED_CALL = re.compile(r"aangenomen oproep|beantwoorde oproep|oproep ontvangen|gesprek gevoerd|answered call|"
                           r"call answered", re.I)
MISSED_CALL = re.compile(r"gemiste oproep|oproep gemist|gemist gesprek|missed (a )?call|missed a lead|call missed", re.I)
TRADE_IN = re.compile(r"inruilaanvraag|inruilverzoek|inruil ?aanvraag|trade[- ]in|part[- ]exchange", re.I)


@dataclass
class Parsed:
    """What a portal parser read from one mail."""

    source: str | None
    kind: str = "lead"
    leads: list[dict] = field(default_factory=list)
    ignored: str | None = None  # auto-reply, bounce, marketing, call-answered
    answered_phone: str | None = None  # for call-answered: the number the call was with
    needs_review: bool = False


def is_robot(address: str) -> bool:
    return bool(address) and bool(ROBOT.match(address.partition("@")[0]))


def is_marketing(mail: Mail, *, subject_only: bool = False) -> bool:
    """Marketing wording in the subject (or, for a mail that turned out to hold no buyer, the opening text): a lead's
    footer that mentions "tips voor uw advertentie" does not make the lead marketing."""
    head = mail.subject if subject_only else f"{mail.subject}\n{mail.text[:600]}"
    return bool(MARKETING.search(head))


def call_kind(mail: Mail) -> str | None:
    """`call-answered` or `call` when the mail is a portal's call notice, else None."""
    head = f"{mail.subject}\n{mail.text[:400]}"
    if ANSWERED_CALL.search(head):
        return "call-answered"
    if MISSED_CALL.search(head):
        return "call"
    return None


def caller_phone(mail: Mail) -> str | None:
    """The caller's number in a call notice: a phone label first, else the first number in the body (never the
    `Klantnr:` customer number, the time of the call or the ad number)."""
    labelled = f.labelled(mail.text, f.PHONE_LABELS + ["Nummer", "Number", "Van", "From"], accept=f.phone_in)
    if labelled:
        return f.phone_in(labelled)
    text = re.sub(r"(klantnr|klantnummer|advertentienr|advertentienummer|ad id|stock number|vin)\.?:?\s*\S+", " ",
                  mail.text, flags=re.I)
    return f.phone_in(text)


def ad_link(mail: Mail, pattern: str) -> str | None:
    rx = re.compile(pattern, re.I)
    return next((link for link in mail.links if rx.search(link)), None)


def customer_email(mail: Mail, text: str) -> str | None:
    """Reply-To first (a portal's relay address reaches the buyer), then an e-mail label in the body."""
    if mail.reply_to_addr and not is_robot(mail.reply_to_addr):
        return mail.reply_to_addr
    value = f.labelled(text, f.EMAIL_LABELS, accept=f.email_in)
    return f.email_in(value) if value else None


def customer_name(mail: Mail, text: str) -> tuple[str, str]:
    first = f.labelled(text, f.FIRST_NAME, same_line_only=False)
    last = f.labelled(text, f.LAST_NAME, same_line_only=False)
    if first or last:
        return (first or "").strip(), (last or "").strip()
    full = f.labelled(text, f.NAME, accept=lambda v: "@" not in v and len(v) <= 100 and not f.phone_in(v))
    if full:
        return f.split_name(full)
    if mail.reply_to_name and not is_robot(mail.reply_to_addr):
        return f.split_name(mail.reply_to_name)
    return "", ""


def split_trade_in(text: str) -> tuple[str, str]:
    """(the text before a trade-in section, the trade-in section) — plate and mileage there are the customer's car."""
    # A heading line (nothing after a colon): "Gegevens inruilauto", "Trade-in vehicle"; not "Trade-In?: No".
    m = re.search(r"^[\s*_#-]*(gegevens (van )?(de |uw |je )?inruil\w*|inruilauto|inruilvoertuig|uw inruil\w*|"
                  r"je inruil\w*|(your )?trade[- ]in( vehicle| details)?|part[- ]exchange( vehicle| details)?)\b"
                  r"[^:\n]*:?[\s*_]*$", text, re.I | re.M)
    if not m:
        return text, ""
    return text[:m.start()], text[m.start():]


def vehicle_from_text(text: str, *, title: str | None = None) -> dict:
    vehicle: dict = {}
    make = f.labelled(text, f.MAKE_LABELS, same_line_only=True)
    if make:
        vehicle["make"] = make
        model = f.labelled(text, ["Model"], same_line_only=True)
        if model:
            vehicle["model"] = model
    else:
        candidates = [f.labelled(text, f.VEHICLE_LABELS, accept=lambda v: bool(f.vehicle_from_title(v))), title]
        for candidate in candidates:
            found = f.vehicle_from_title(candidate)
            if found:
                vehicle.update(found)
                break
    year = f.labelled(text, f.YEAR_LABELS, accept=f.year_in)
    if year and "year" not in vehicle:
        vehicle["year"] = f.year_in(year)
    plate = f.labelled(text, f.PLATE_LABELS, accept=f.plate_in)
    if plate:
        vehicle["plate"] = f.plate_in(plate)
    mileage = f.labelled(text, f.MILEAGE_LABELS, accept=f.mileage_in)
    if mileage is not None:
        vehicle["mileage_km"] = f.mileage_in(mileage)
    price = f.labelled(text, f.PRICE_LABELS, accept=lambda v: f.price_in(v)[0] is not None)
    if price:
        amount, currency = f.price_in(price)
        vehicle["price"] = str(amount)
        if currency:
            vehicle["currency"] = currency
    vin = f.labelled(text, ["VIN", "Chassisnummer"], same_line_only=True)
    if vin and re.fullmatch(r"[A-HJ-NPR-Z0-9]{11,17}", vin, re.I):
        vehicle["vin"] = vin
    stock = f.labelled(text, ["Stock Number", "Stock number", "Stock", "Voorraadnummer"], same_line_only=True)
    if stock:
        vehicle["stock_number"] = stock[:64]
    return vehicle


def trade_in_from_text(section: str) -> dict:
    if not section:
        return {}
    trade: dict = {}
    vehicle = vehicle_from_text(section)
    for key in ("make", "model", "year", "plate", "mileage_km"):
        if vehicle.get(key) not in (None, ""):
            trade[key] = vehicle[key]
    if "make" not in trade:
        title = f.labelled(section, ["Merk en model", "Merk/model", "Auto", "Voertuig", "Vehicle"],
                           accept=lambda v: bool(f.vehicle_from_title(v)))
        found = f.vehicle_from_title(title)
        trade.update({k: v for k, v in found.items() if k in ("make", "model", "year")})
    remarks = trade_remarks(section)
    if remarks:
        trade["remarks"] = remarks
    return trade


def lead_from_labels(mail: Mail, *, kind: str = "lead", text: str | None = None, title: str | None = None,
                     url_pattern: str | None = None, message: str | None = None) -> dict:
    """The lead of a "label: value" notification, in the shape of LeadInSerializer."""
    text = mail.text if text is None else text
    before, trade_section = split_trade_in(text)
    first, last = customer_name(mail, before)
    email = customer_email(mail, before)
    phone_value = f.labelled(before, f.PHONE_LABELS, accept=f.phone_in)
    phone = f.phone_in(phone_value) if phone_value else None
    if message is None:
        message = f.block_after(before, f.MESSAGE_LABELS)
    if not email and not phone:  # no labelled contact: an address or number written in a sentence
        email, phone = _contact_in_prose(mail, before)
    lead: dict = {
        "channel": "call" if kind == "call" else "email",
        "customer": {k: v for k, v in {"first_name": first, "last_name": last, "email": email, "phone": phone}.items() if v},
        "message": message or "",
    }
    vehicle = vehicle_from_text(before, title=title or mail.subject)
    url = ad_link(mail, url_pattern) if url_pattern else None
    if url:
        vehicle["url"] = url
    if vehicle:
        lead["vehicle"] = vehicle
    trade = trade_in_from_text(trade_section)
    if not trade and kind == "trade_in":
        trade = _trade_in_unmarked(before, vehicle, title=title or mail.subject)
    if trade:
        lead["trade_in"] = trade
    if not lead.get("vehicle"):
        lead.pop("vehicle", None)
    return lead


def _contact_in_prose(mail: Mail, text: str) -> tuple[str | None, str | None]:
    """"Please send the report to: jan@example.com, Phone: 6479658360." — only used when no label gave a contact."""
    own = {mail.from_domain}
    email = next((e for e in f.EMAIL.findall(text) if not is_robot(e) and e.rpartition("@")[2].lower() not in own), None)
    m = re.search(r"(?:phone|telephone|tel|telefoon(?:nummer)?|mobiel|bel(?:\s+\w+)?)\.?:?\s*\(?\s*(?:tel:)?"
                  r"([+\d(][\d ()+.\-]{7,})", text, re.I)
    phone = f.phone_in(m.group(1)) if m else None
    return email, phone


def _trade_in_unmarked(text: str, vehicle: dict, *, title: str) -> dict:
    """A trade-in request without a trade-in heading: its plate and mileage are the customer's car. With two plates,
    the first is the advertised car's and the last the customer's."""
    trade: dict = {}
    plates = [f.plate_in(v) for v in f.labelled_all(text, f.PLATE_LABELS, accept=f.plate_in)]
    mileages = [f.mileage_in(v) for v in f.labelled_all(text, f.MILEAGE_LABELS, accept=f.mileage_in)]
    if plates:
        trade["plate"] = plates[-1]
        if len(plates) == 1:
            vehicle.pop("plate", None)
    if mileages:
        trade["mileage_km"] = mileages[-1]
        if len(mileages) == 1:
            vehicle.pop("mileage_km", None)
    makes = f.labelled_all(text, f.MAKE_LABELS, same_line_only=True)
    if makes and (len(makes) > 1 or vehicle.get("make") == makes[0]):
        trade["make"] = makes[-1]
        models = f.labelled_all(text, ["Model"], same_line_only=True)
        if models:
            trade["model"] = models[-1]
        if len(makes) == 1:  # the labels were the customer's car: the advertised one is in the title
            vehicle.pop("make", None)
            vehicle.pop("model", None)
            advertised = f.labelled(text, f.VEHICLE_LABELS, accept=lambda v: bool(f.vehicle_from_title(v)))
            vehicle.update({k: v for k, v in f.vehicle_from_title(advertised or title).items() if k != "year"})
    remarks = trade_remarks(text)
    if remarks:
        trade["remarks"] = remarks
    return trade


def trade_remarks(text: str) -> str | None:
    """Every remark about the customer's car (state, description, defects), each under its own label."""
    parts = []
    first = f.block_after(text, f.REMARK_LABELS)
    if first:
        parts.append(first)
    for label in f.REMARK_LABELS:
        value = f.labelled(text, [label], same_line_only=True)
        if value and not any(value in part for part in parts):
            parts.append(f"{label}: {value}")
    return "\n".join(parts)[:2000] or None


def adf_leads(mail: Mail) -> list[dict]:
    """The prospects of ADF/XML documents in the body or attached, through the project's ADF reader."""
    leads = []
    for body in mail.xml_parts:
        try:
            prospects = adf.parse_adf(body)
        except adf.AdfRefused:
            continue
        for prospect in prospects:
            data = dict(prospect.data)
            # `<id source="leadtype">Email</id>` names a kind of lead, not one lead: only ids with a digit identify.
            if not re.search(r"\d", data.get("external_id") or ""):
                data.pop("external_id", None)
            customer = dict(data.get("customer") or {})
            if customer.get("email") and "@" not in customer["email"]:  # feeds do swap fields: keep it where it fits
                stray = customer.pop("email")
                if not customer.get("phone") and f.phone_in(stray):
                    customer["phone"] = stray
            for part in ("first_name", "last_name"):
                if "@" in (customer.get(part) or ""):
                    customer.setdefault("email", f.email_in(customer.pop(part)))
            if not customer.get("email") and mail.reply_to_addr and not is_robot(mail.reply_to_addr):
                customer["email"] = mail.reply_to_addr
            data["customer"] = customer
            if data.get("message"):
                data["message"] = re.sub(r"[ \t]*<br\s*/?>[ \t]*", "", data["message"])
            data["channel"] = "email"
            leads.append(data)
    return leads


from . import (  # noqa: E402  (the modules import the helpers above)
    adf_feed,
    autoscout24,
    autotrack,
    autotrader,
    cargurus,
    cazoo,
    gumtree,
    marktplaats,
    website,
)

# First match wins: named portals by their sender, then a bare ADF feed, then a dealer's website form.
REGISTRY = [autoscout24, marktplaats, autotrack, autotrader, cargurus, gumtree, cazoo, adf_feed, website]
