"""Cazoo (UK): part-exchange and enquiry notices in "label: value" form."""

import re

from . import Parsed, call_kind, caller_phone, lead_from_labels

SOURCE = "cazoo"


def matches(mail) -> bool:
    return "cazoo." in mail.from_domain


def parse(mail) -> Parsed:
    call = call_kind(mail)
    if call == "call-answered":
        return Parsed(source=SOURCE, kind="call", ignored="call-answered", answered_phone=caller_phone(mail))
    kind = call or ("trade_in" if re.search(r"part[- ]exchange|trade[- ]in", mail.subject, re.I) else "lead")
    lead = lead_from_labels(mail, kind=kind, url_pattern=r"cazoo\.")
    if call == "call":
        lead["customer"]["phone"] = caller_phone(mail) or lead["customer"].get("phone")
    return Parsed(source=SOURCE, kind=kind, leads=[lead])
