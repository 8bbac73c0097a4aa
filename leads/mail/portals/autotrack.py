"""AutoTrack: test drive ("Proefritaanvraag"), call-back ("Terugbelverzoek"), trade-in ("Inruilaanvraag"), missed
call, and ordinary questions. `Kenteken`/`Kilometerstand` above the message are the dealer's car."""

import re

from .. import fields as f
from . import Parsed, call_kind, caller_phone, lead_from_labels

SOURCE = "autotrack"
AD_LINK = r"autotrack\.nl/(a|aanbod|occasions?)/"


def matches(mail) -> bool:
    return "autotrack." in mail.from_domain or mail.from_domain.startswith("autotrack")


def parse(mail) -> Parsed:
    call = call_kind(mail)
    if call == "call-answered":
        return Parsed(source=SOURCE, kind="call", ignored="call-answered", answered_phone=caller_phone(mail))
    head = f"{mail.subject}\n{mail.text[:300]}"
    if call == "call":
        lead = lead_from_labels(mail, kind="call", message=mail.subject, url_pattern=AD_LINK)
        phone = caller_phone(mail)
        if phone:
            lead["customer"]["phone"] = phone
        return Parsed(source=SOURCE, kind="call", leads=[lead])
    # The request's own word anywhere ("Inruilaanvraag"), or a looser one near the top ("proefrit" in the subject).
    kind = ("trade_in" if re.search(r"inruilaanvraag", mail.text, re.I) or re.search(r"inruil", head, re.I)
            else "callback" if re.search(r"terugbelverzoek", mail.text, re.I) or re.search(r"terugbel", head, re.I)
            else "test_drive" if re.search(r"proefritaanvraag", mail.text, re.I) or re.search(r"proefrit", head, re.I)
            else "lead")
    title = f.labelled(mail.text, ["Voertuig", "Auto"], accept=lambda v: bool(f.vehicle_from_title(v)))
    if not title:
        m = re.search(r"voor\s+(.+?)(?:\s+-\s+|$)", mail.subject, re.I)
        title = m.group(1) if m else None
    lead = lead_from_labels(mail, kind=kind, title=title, url_pattern=AD_LINK)
    extras = [f"{label}: {value}" for label in ("Gewenste dag", "Gewenste tijd", "Voorkeurstijd", "Bereikbaar")
              if (value := f.labelled(mail.text, [label], same_line_only=True))]
    if extras:
        lead["message"] = "\n\n".join(filter(None, [lead["message"], "\n".join(extras)]))
    return Parsed(source=SOURCE, kind=kind, leads=[lead])
