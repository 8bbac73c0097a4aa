"""Marktplaats: a buyer's reaction (answer through the relay address on mail.marktplaats.nl in Reply-To), a missed
call ("Gemiste oproep") and a trade-in request ("Inruilverzoek"/"Inruilaanvraag")."""

import re

from .. import fields as f
from . import TRADE_IN, Parsed, call_kind, caller_phone, lead_from_labels

SOURCE = "marktplaats"
AD_LINK = r"marktplaats\.nl/(v|a)/"


def matches(mail) -> bool:
    return "marktplaats." in mail.from_domain or mail.from_domain.startswith("marktplaats")


def parse(mail) -> Parsed:
    call = call_kind(mail)
    if call == "call-answered":
        return Parsed(source=SOURCE, kind="call", ignored="call-answered", answered_phone=caller_phone(mail))
    title = _title(mail)
    if call == "call":
        lead = lead_from_labels(mail, kind="call", title=title, url_pattern=AD_LINK, message=mail.subject)
        phone = caller_phone(mail)
        if phone:
            lead["customer"]["phone"] = phone
        return Parsed(source=SOURCE, kind="call", leads=[lead])
    kind = "trade_in" if re.search(r"inruil", mail.subject, re.I) or TRADE_IN.search(mail.text[:400]) else "lead"
    message = f.block_after(mail.text, ["Bericht van de koper", "Bericht", "Reactie", "Vraag", "Opmerkingen"],
                            stop=lambda line: line.lower().startswith("verkoper"))
    lead = lead_from_labels(mail, kind=kind, title=title, url_pattern=AD_LINK, message=message)
    if not lead["customer"].get("first_name"):
        name = f.labelled(mail.text, ["Van", "Koper", "Afzender"], same_line_only=True,
                          accept=lambda v: "@" not in v and not f.phone_in(v))
        if name:
            lead["customer"]["first_name"], lead["customer"]["last_name"] = f.split_name(name)
    if not lead["customer"].get("first_name"):
        m = re.search(r"^(.{2,60}?) heeft (gereageerd|een bericht|een vraag|een inruil)", mail.text, re.I | re.M)
        if m:
            lead["customer"]["first_name"], lead["customer"]["last_name"] = f.split_name(m.group(1))
    return Parsed(source=SOURCE, kind=kind, leads=[lead])


def _title(mail) -> str:
    """The vehicle: `Advertentie:` in the body, else the subject after "voor" (without "om 14:32")."""
    value = f.labelled(mail.text, ["Advertentie", "Auto", "Voertuig"], accept=lambda v: bool(f.vehicle_from_title(v)))
    if value:
        return value
    m = re.search(r"\bvoor (je |uw )?(.+)$", mail.subject, re.I)
    return m.group(2) if m else mail.subject
