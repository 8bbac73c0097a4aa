"""AutoTrader (trader.ca "1-Source" leads and autotrader.co.uk): `Name:`/`Phone:`/`Email:`/`Comment:` and a
`Vehicle Information` block with `Year:`/`Make:`/`Model:`. `Location:` is the dealer, not the customer."""

import re

from .. import fields as f
from . import Parsed, call_kind, caller_phone, lead_from_labels

SOURCE = "autotrader"


def matches(mail) -> bool:
    domain = mail.from_domain
    return "trader.ca" in domain or "autotrader." in domain or domain.startswith("autotrader")


def parse(mail) -> Parsed:
    call = call_kind(mail)
    if call == "call-answered":
        return Parsed(source=SOURCE, kind="call", ignored="call-answered", answered_phone=caller_phone(mail))
    title = next((m.group(1) for m in re.finditer(r"\byour (.+?)(?:\.\s|\.$| ad\b| \(|$)", mail.text, re.I | re.M)
                  if f.vehicle_from_title(m.group(1))), None)
    lead = lead_from_labels(mail, kind=call or "lead", title=title or mail.subject, url_pattern=r"autotrader\.|trader\.ca")
    if not lead["message"]:  # "Message Hi, I found your listing…" (no colon) or a request in prose
        m = re.search(r"^(?:Message|Comments?)\s+(\S.*)$", mail.text, re.I | re.M)
        first_paragraph = mail.text.strip().split("\n\n")[0]
        lead["message"] = m.group(1).strip() if m else first_paragraph[:1000]
    stock = re.search(r"Stock\s*#:\s*([\w-]+)", mail.text)
    if stock:
        lead.setdefault("vehicle", {}).setdefault("stock_number", stock.group(1))
    if lead.get("vehicle") and not lead["vehicle"].get("make") and title:
        lead["vehicle"].update(f.vehicle_from_title(title))
    if call == "call":
        lead["customer"]["phone"] = caller_phone(mail) or lead["customer"].get("phone")
    return Parsed(source=SOURCE, kind=call or "lead", leads=[lead])
