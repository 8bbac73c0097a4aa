"""A dealer's website form: "label: value" (or label and value on their own lines), in Dutch or English.

Recognised by what it is, not by its sender (every dealer's site sends from its own domain): form wording in the
subject or body, or at least two contact labels whose address is not the sender's own.
"""

import re

from .. import fields as f
from . import Parsed, lead_from_labels

SOURCE = "website"
LISTING = r"/(listing|occasions?|aanbod|voorraad|auto|cars?|vehicles?|used-cars?)[/-]"  # a link to a car, not the home page
FORM_WORDS = re.compile(r"website|webformulier|contactformulier|formulier|web ?form|form submi|proefrit aanvra|"
                        r"offerte aanvra|inruil aanvra|terugbelverzoek|new lead|nieuwe lead|aanvraag via", re.I)


def matches(mail) -> bool:
    found = [f.labelled(mail.text, labels, accept=accept) for labels, accept in
             ((f.NAME + f.FIRST_NAME, None), (f.EMAIL_LABELS, f.email_in), (f.PHONE_LABELS, f.phone_in))]
    labels = sum(1 for value in found if value)
    email = f.email_in(found[1]) if found[1] else None
    if labels >= 2 and email and email.lower() != mail.from_addr:
        return True
    return labels >= 2 and bool(FORM_WORDS.search(f"{mail.subject}\n{mail.text[:500]}"))


def parse(mail) -> Parsed:
    head = f"{mail.subject}\n{mail.text[:300]}"
    kind = ("trade_in" if re.search(r"inruil|trade[- ]?in|part[- ]exchange", head, re.I)
            or re.search(r"inruilaanvraag|inruilverzoek", mail.text, re.I)
            else "test_drive" if re.search(r"proefrit|test ?drive", head, re.I)
            else "callback" if re.search(r"terugbel|call ?back", head, re.I) else "lead")
    lead = lead_from_labels(mail, kind=kind, url_pattern=LISTING)
    submitted = f.labelled(mail.text, ["This form submitted at", "Formulier verstuurd vanaf", "Verstuurd vanaf",
                                       "Pagina", "Page", "URL"], same_line_only=True)
    url = next(iter(re.findall(r"https?://\S+", submitted or "")), None)
    vehicle = lead.get("vehicle") or {}
    if url:
        vehicle["url"] = url
        if "make" not in vehicle:  # the car is often only in the page's slug
            slug = re.sub(r"[-_/]+", " ", url.rstrip("/").rsplit("/", 1)[-1])
            found = f.vehicle_from_title(slug)
            if found:
                canonical = next((m for m in f.MAKES if m.lower() == found["make"].lower()), found["make"])
                found["make"] = canonical
                if "model" in found:
                    found["model"] = found["model"].title()
                vehicle.update(found)
    if "plate" not in vehicle:  # "Enquiry - BMW Z4 (EA59ODK) - Simon"
        reg = re.search(r"\(([A-Z]{2}\d{2} ?[A-Z]{3}|[A-Z0-9]{1,3}-[A-Z0-9]{2,3}-[A-Z0-9]{1,2})\)", mail.subject)
        if reg:
            vehicle["plate"] = reg.group(1)
    preferred = f.labelled(mail.text, ["Preferred Contact Method", "Voorkeur contact", "Contactvoorkeur"])
    if preferred and preferred.lower() in ("email", "e-mail", "phone", "telefoon", "whatsapp", "sms"):
        lead["customer"]["preferred_contact"] = {"e-mail": "email", "telefoon": "phone"}.get(preferred.lower(),
                                                                                             preferred.lower())
    if vehicle:
        lead["vehicle"] = vehicle
    return Parsed(source=SOURCE, kind=kind, leads=[lead])
