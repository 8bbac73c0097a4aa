"""Cazoo / Motors.co.uk (UK): "Enquiry - <Make Model> <REG> - <FirstName>", sent two or three times within seconds
(the `CorrelationID:` line identifies the enquiry). The plain text has no colons:

    New sales lead / <vehicle> / <REG> Listed at £4,995 / <enquiry type> / Call Sam ( tel:0784… ) /
    Email Sam ( sam@… ) / Customer message / <text> / Enquiry type / … / Customer details / <name> / View vehicle advert ( url )
"""

import re

from .. import fields as f
from . import Parsed, call_kind, caller_phone, lead_from_labels

SOURCE = "cazoo"


def matches(mail) -> bool:
    return "cazoo." in mail.from_domain or "motors.co.uk" in mail.from_domain


def parse(mail) -> Parsed:
    call = call_kind(mail)
    if call == "call-answered":
        return Parsed(source=SOURCE, kind="call", ignored="call-answered", answered_phone=caller_phone(mail))
    text = mail.text
    enquiry = _after(text, "Enquiry type") or ""
    kind = call or ("test_drive" if re.search(r"test ?drive", enquiry, re.I)
                    else "trade_in" if re.search(r"part[- ]exchange|trade[- ]in", f"{mail.subject} {enquiry}", re.I)
                    else "lead")
    lead = lead_from_labels(mail, kind=kind, url_pattern=r"cazoo\.|motors\.co\.uk")
    customer = lead["customer"]
    tel = re.search(r"\(\s*tel:\s*([+\d][\d\s()+-]{6,})\s*\)", text, re.I)
    if tel and not customer.get("phone"):
        customer["phone"] = tel.group(1).strip()
    address = re.search(r"^\s*Email\b[^(\n]*\(\s*(?:mailto:)?([^\s()]+@[^\s()]+)\s*\)", text, re.I | re.M)
    if address and not customer.get("email"):
        customer["email"] = address.group(1)
    if not customer.get("email"):
        customer["email"] = f.email_in(_after(text, "Customer details", lines=4) or "") or customer.get("email")
    name = _after(text, "Customer details")
    if name and not customer.get("first_name") and "@" not in name and not f.phone_in(name):
        customer["first_name"], customer["last_name"] = f.split_name(name)
    message = _block(text, "Customer message", stops=("Enquiry type", "Customer details", "View vehicle advert"))
    lead["message"] = message or (f"{enquiry}: {mail.subject}" if enquiry else lead.get("message") or "")
    vehicle = lead.setdefault("vehicle", {})
    listed = re.search(r"^\s*([A-Z0-9]{2,8}(?: [A-Z0-9]{3})?)\s+Listed at\s+(.+)$", text, re.M)
    if listed:
        vehicle["plate"] = listed.group(1)
        amount, currency = f.price_in(listed.group(2))
        if amount is not None:
            vehicle["price"], vehicle["currency"] = str(amount), currency or "GBP"
        title = text[:listed.start()].strip().split("\n")[-1]
        vehicle.update({k: v for k, v in f.vehicle_from_title(title).items() if k not in vehicle or k == "model"})
    correlation = f.labelled(text, ["CorrelationID", "Correlation ID"], same_line_only=True)
    if correlation:
        lead["external_id"] = correlation[:200]
    if not vehicle:
        lead.pop("vehicle")
    return Parsed(source=SOURCE, kind=kind, leads=[lead])


def _after(text: str, heading: str, *, lines: int = 1) -> str | None:
    """The first non-empty line(s) after a heading line that stands alone."""
    rows = [row.strip() for row in text.split("\n")]
    for i, row in enumerate(rows):
        if row.lower() == heading.lower():
            following = [r for r in rows[i + 1:] if r][:lines]
            return "\n".join(following) or None
    return None


def _block(text: str, heading: str, *, stops: tuple[str, ...]) -> str | None:
    rows = [row.strip() for row in text.split("\n")]
    for i, row in enumerate(rows):
        if row.lower() == heading.lower():
            body = []
            for nxt in rows[i + 1:]:
                if any(nxt.lower().startswith(stop.lower()) for stop in stops):
                    break
                body.append(nxt)
            return "\n".join(body).strip() or None
    return None
