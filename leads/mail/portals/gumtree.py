"""Gumtree (UK): "You just missed a lead" call notices (the number written twice) and enquiries."""

from . import Parsed, call_kind, caller_phone, lead_from_labels

SOURCE = "gumtree"


def matches(mail) -> bool:
    return "gumtree." in mail.from_domain


def parse(mail) -> Parsed:
    call = call_kind(mail)
    if call == "call-answered":
        return Parsed(source=SOURCE, kind="call", ignored="call-answered", answered_phone=caller_phone(mail))
    if call == "call":
        lead = lead_from_labels(mail, kind="call", message=mail.text[:2000])
        lead["customer"] = {"phone": caller_phone(mail)} if caller_phone(mail) else lead["customer"]
        return Parsed(source=SOURCE, kind="call", leads=[lead])
    return Parsed(source=SOURCE, kind="lead", leads=[lead_from_labels(mail, url_pattern=r"gumtree\.")])
