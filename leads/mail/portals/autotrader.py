"""AutoTrader (trader.ca "1-Source" leads and autotrader.co.uk): `Name:`/`Phone:`/`Email:`/`Comment:` and a
`Vehicle Information` block with `Year:`/`Make:`/`Model:`. `Location:` is the dealer, not the customer."""

from . import Parsed, call_kind, caller_phone, lead_from_labels

SOURCE = "autotrader"


def matches(mail) -> bool:
    domain = mail.from_domain
    return "trader.ca" in domain or "autotrader." in domain or domain.startswith("autotrader")


def parse(mail) -> Parsed:
    call = call_kind(mail)
    if call == "call-answered":
        return Parsed(source=SOURCE, kind="call", ignored="call-answered", answered_phone=caller_phone(mail))
    lead = lead_from_labels(mail, kind=call or "lead", url_pattern=r"autotrader\.|trader\.ca")
    if call == "call":
        lead["customer"]["phone"] = caller_phone(mail) or lead["customer"].get("phone")
    return Parsed(source=SOURCE, kind=call or "lead", leads=[lead])
