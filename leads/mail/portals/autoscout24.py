"""AutoScout24: enquiries ("Nieuwe aanvraag"), missed calls ("Gemiste oproep") and answered calls ("Aangenomen
oproep", a contact and not a lead). The subject's "Klantnr: <n>" is the dealer's customer number, never a phone."""

import re

from .. import fields as f
from . import TRADE_IN, Parsed, call_kind, caller_phone, lead_from_labels

SOURCE = "autoscout24"
AD_LINK = r"autoscout24\.[a-z.]+/(aanbod|angebote|offers|lst|auto)/"


def matches(mail) -> bool:
    return "autoscout24." in mail.from_domain or mail.from_domain.startswith("autoscout24")


def parse(mail) -> Parsed:
    call = call_kind(mail)
    if call == "call-answered":
        return Parsed(source=SOURCE, kind="call", ignored="call-answered", answered_phone=caller_phone(mail))
    text = re.sub(r"klantnr\.?:?\s*\d+", "", mail.text, flags=re.I)
    title = _title(mail)
    if call == "call":
        message = re.sub(r"\s*\|?\s*klantnr\.?:?\s*\d+", "", mail.subject, flags=re.I).strip()
        lead = lead_from_labels(mail, kind="call", text=text, title=title, url_pattern=AD_LINK, message=message)
        phone = caller_phone(mail)
        if phone:
            lead["customer"]["phone"] = phone
        return Parsed(source=SOURCE, kind="call", leads=[lead])
    message = f.block_after(text, ["Bericht van de koper", "Bericht van de geïnteresseerde", "Bericht", "Nachricht",
                                   "Message"])
    kind = "trade_in" if TRADE_IN.search(f"{mail.subject}\n{text}") else "lead"
    lead = lead_from_labels(mail, kind=kind, text=text, title=title, url_pattern=AD_LINK, message=message)
    if not lead["customer"].get("first_name"):
        name = f.labelled(text, ["Nieuwe aanvraag van"], same_line_only=True) or _subject_name(mail.subject)
        if name:
            lead["customer"]["first_name"], lead["customer"]["last_name"] = f.split_name(name)
    vehicle = lead.setdefault("vehicle", {})
    _value_then_label(text, vehicle)
    if not vehicle:
        lead.pop("vehicle")
    return Parsed(source=SOURCE, kind=kind, leads=[lead])


def _subject_name(subject: str) -> str | None:
    m = re.search(r"aanvraag van (.+?) voor (uw|je) ", subject, re.I)
    return m.group(1) if m else None


def _title(mail) -> str:
    m = re.search(r"voor (uw|je) (.+?)(\s+-\s+AutoScout24|\s*\||$)", mail.subject, re.I)
    if m:
        return m.group(2)
    m = re.search(r":\s*(.+?)(\s*\||$)", mail.subject)  # "Gemiste oproep: Volkswagen Golf | Klantnr: 123"
    return m.group(1) if m else mail.subject


def _value_then_label(text: str, vehicle: dict) -> None:
    """The vehicle block puts the value above its label (`03/2021` / `Jaar`); km and price stand alone."""
    lines = [line.strip() for line in text.split("\n")]
    for i, line in enumerate(lines):
        if line.lower() in ("jaar", "bouwjaar", "eerste toelating") and i and "year" not in vehicle:
            year = f.year_in(lines[i - 1])
            if year:
                vehicle["year"] = year
        if "mileage_km" not in vehicle and re.fullmatch(r"\d{1,3}(\.\d{3})*\s*km", line, re.I):
            vehicle["mileage_km"] = f.mileage_in(line)
        if "price" not in vehicle and re.fullmatch(r"€\s*[\d.]+(,\d{2}|,-)?", line):
            amount, currency = f.price_in(line)
            if amount is not None:
                vehicle["price"], vehicle["currency"] = str(amount), currency or "EUR"
