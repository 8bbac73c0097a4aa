"""CarGurus (Canada, US, UK): plain "label: value" notices, or the lead as ADF/XML in the body. The UK notice packs
`Reg:`/`Vehicle:`/`Listing price:` on one line and repeats "I prefer to be contacted by" in the comment."""

import re

from .. import fields as f
from . import Parsed, adf_leads, call_kind, caller_phone, lead_from_labels

SOURCE = "cargurus"
BOILERPLATE = re.compile(r"\s*(I prefer to be contacted by:\s*\w+|\(CarGurus deal rating:[^)]*\)?)", re.I)
PACKED = re.compile(r"(Reg\. date|Reg|Vehicle|Stock number|Listing price|Mileage):\s*", re.I)


def matches(mail) -> bool:
    return "cargurus." in mail.from_domain


def parse(mail) -> Parsed:
    call = call_kind(mail)
    if call == "call-answered":
        return Parsed(source=SOURCE, kind="call", ignored="call-answered", answered_phone=caller_phone(mail))
    leads = adf_leads(mail)
    if leads:
        return Parsed(source=SOURCE, kind="lead", leads=leads)
    if re.search(r"phone lead", mail.subject, re.I):  # a call through CarGurus' tracking number: call back, ask which car
        phone = caller_phone(mail)
        duration = f.labelled(mail.text, ["Duration", "Call duration"], same_line_only=True)
        lead = {"channel": "call", "customer": {"phone": phone} if phone else {},
                "message": "\n".join(filter(None, [mail.subject, f"Duration: {duration}" if duration else ""]))}
        return Parsed(source=SOURCE, kind="call", leads=[lead])
    text = _unpack(mail.text)
    heading = re.search(r"lead for your (.+?)\s*#*$", mail.text, re.I | re.M)
    lead = lead_from_labels(mail, kind=call or "lead", text=text, title=heading.group(1) if heading else None,
                            url_pattern=r"cargurus|/listing")
    if lead.get("message"):
        lead["message"] = BOILERPLATE.sub("", lead["message"]).strip()
    vehicle_line = f.labelled(text, ["Vehicle"], same_line_only=True)
    if vehicle_line:  # `Vehicle: 2001 Porsche Boxster …` names the model year; `Reg. date` does not
        found = f.vehicle_from_title(vehicle_line)
        lead.setdefault("vehicle", {}).update(found)
    if call == "call":
        lead["customer"]["phone"] = caller_phone(mail) or lead["customer"].get("phone")
    return Parsed(source=SOURCE, kind=call or "lead", leads=[lead])


def _unpack(text: str) -> str:
    """`| Reg: X Reg. date: Y Vehicle: Z …` as one label per line."""
    out = []
    for line in text.split("\n"):
        if line.lstrip().startswith("|") and PACKED.search(line):
            out.extend(m.strip() for m in re.split(r"(?=(?:Reg\. date|Reg|Vehicle|Stock number|Listing price|Mileage):)",
                                                    line.lstrip("| ")) if m.strip())
        else:
            out.append(line)
    return "\n".join(out)
