"""An ADF/XML lead (in the body or attached) from a sender that is none of the named portals: source `adf`."""

import re

from . import Parsed, adf_leads

SOURCE = "adf"


def matches(mail) -> bool:
    return bool(mail.xml_parts) and bool(adf_leads(mail))


def parse(mail) -> Parsed:
    leads = adf_leads(mail)
    trade = any(lead.get("trade_in") for lead in leads) or re.search(r"trade[- ]?in|inruil", mail.subject, re.I)
    return Parsed(source=SOURCE, kind="trade_in" if trade else "lead", leads=leads)
