"""Reading values out of a notification's text: labels (Dutch and English), vehicles, phones, plates, prices.

Portal mails are "label: value" lines (bold markers from flattened HTML, `*Naam:*`), a label alone on its line
with the value on the next (`Kenteken` / `RT-482-N`), or a heading followed by a block (`Bericht van de koper`).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

EMAIL = re.compile(r"[\w.+'%-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
PHONE = re.compile(r"(?<![\w+/:.])(?:\+|00)?\(?\d[\d ().\-\u00a0]{6,}\d(?![\w/])")
YEAR = re.compile(r"(?<!\d)(19[5-9]\d|20[0-4]\d)(?!\d)")
# A line that starts with a short label and a colon (`Naam:`, `*E-mailadres:*`, `| Reg:`); "om 10:00" is not one.
LABEL_START = re.compile(r"^[\s*_|>#-]*[A-Za-zÀ-ÿ][A-Za-zÀ-ÿ0-9 .'/()&-]{0,40}?\**:\**(?:\s|$)")
DECOR = " \t*_|>#"

MAKES = [
    "Alfa Romeo", "Aston Martin", "Land Rover", "Lynk & Co", "Mercedes-Benz", "Rolls-Royce", "Harley-Davidson",
    "Abarth", "Acura", "Alpine", "Audi", "Bentley", "BMW", "Buick", "BYD", "Cadillac", "Chevrolet", "Chrysler",
    "Citroën", "Citroen", "Cupra", "Dacia", "Daihatsu", "Dodge", "DS", "Ferrari", "Fiat", "Ford", "Genesis", "GMC",
    "Honda", "Hyundai", "Infiniti", "Jaguar", "Jeep", "Kia", "Lamborghini", "Lancia", "Lexus", "Lincoln", "Lotus",
    "Maserati", "Mazda", "McLaren", "Mercedes", "MG", "Mini", "Mitsubishi", "Nissan", "Opel", "Peugeot", "Polestar",
    "Porsche", "Ram", "Renault", "Saab", "Seat", "Skoda", "Škoda", "Smart", "SsangYong", "Subaru", "Suzuki", "Tesla",
    "Toyota", "Vauxhall", "Volkswagen", "VW", "Volvo", "Zeekr", "Leapmotor", "Xpeng",
]
_MAKE = re.compile(r"(?<![\w-])(" + "|".join(re.escape(m) for m in MAKES) + r")(?![\w-])", re.I)
TWO_WORD_MODELS = {"model", "range", "grand", "santa", "land", "id.", "e-tron", "c", "e", "s", "glc", "gle"}

NAME = ["Naam", "Volledige naam", "Naam koper", "Klantnaam", "Name", "Full Name", "Customer name", "Your name",
        "Contact name", "Contactpersoon"]
FIRST_NAME = ["Voornaam", "First Name", "Firstname", "Given name"]
LAST_NAME = ["Achternaam", "Last Name", "Lastname", "Surname", "Family name"]
EMAIL_LABELS = ["E-mailadres", "E-mail adres", "Emailadres", "E-mail", "Email", "Email address", "E-mail address",
                "Antwoorden op", "Reply to", "Mail"]
PHONE_LABELS = ["Telefoonnummer", "Telefoon", "Tel", "Tel.", "Mobiel", "Mobiel nummer", "Telefoonnummer koper",
                "Phone", "Phone number", "Telephone", "Mobile", "Mobile number", "Contact number", "Nummer beller",
                "Caller", "Beller"]
MESSAGE_LABELS = ["Bericht van de koper", "Bericht", "Vraag", "Uw vraag", "Jouw vraag", "Opmerking", "Opmerkingen",
                  "Toelichting", "Message", "Comments", "Comment", "Customer comments", "Your message", "Question",
                  "Enquiry"]
PLATE_LABELS = ["Kenteken", "Reg", "Registration", "Registration number", "Reg. number", "VRM", "Licence plate",
                "License plate"]
YEAR_LABELS = ["Bouwjaar", "Jaar", "Year", "Model year", "Registratiejaar"]
MILEAGE_LABELS = ["Kilometerstand", "Km-stand", "Km stand", "Mileage", "Odometer", "Tellerstand"]
PRICE_LABELS = ["Vraagprijs", "Prijs", "Price", "Listed Price", "Listing price", "Asking price"]
VEHICLE_LABELS = ["Voertuig", "Auto", "Advertentie", "Vehicle", "Car", "Listing", "Occasion", "Model"]
MAKE_LABELS = ["Merk", "Make"]
MODEL_LABELS = ["Model", "Type"]
REMARK_LABELS = ["Eventuele opmerkingen", "Opmerkingen", "Opmerking", "Mankementen", "Schade", "Schades", "Gebreken",
                 "Staat van inruilauto", "Beschrijving inruilauto", "Staat", "Toelichting", "Remarks", "Damage",
                 "Condition notes", "Condition"]
KNOWN_LABELS = {label.lower() for label in NAME + FIRST_NAME + LAST_NAME + EMAIL_LABELS + PHONE_LABELS + MESSAGE_LABELS
                + PLATE_LABELS + YEAR_LABELS + MILEAGE_LABELS + PRICE_LABELS + MAKE_LABELS} | {
    "gdpr contact", "preferred contact method", "preferred contact", "enquiry type", "customer details", "contactvoorkeur",
    "voorkeur contact", "postcode", "postal code", "address", "adres", "woonplaats", "gewenste dag", "gewenste tijd"}
FOOTERS = re.compile(r"^\W*(met vriendelijke groet|vriendelijke groet|kind regards|best regards|regards,|"
                     r"u ontvangt deze e-mail|je ontvangt deze e-mail|deze e-mail is automatisch|bekijk advertentie|"
                     r"view listing|wat vond je|©)", re.I)


# After a blank line, a short capitalised line without punctuation starts the next section ("Vehicle Information").
SECTION_HEADING = re.compile(r"^[\s*_#]*[A-Z][A-Za-zÀ-ÿ]*(?: [A-Za-zÀ-ÿ]+){0,2}[\s*_#]*$")


def lines_of(text: str) -> list[str]:
    return [line.strip() for line in (text or "").split("\n")]


def _label_re(labels: list[str]) -> re.Pattern:
    names = "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True))
    return re.compile(r"^[\s*_|>#-]*(?:" + names + r")[\s*_]*(?::|(?=\s*$)|\.(?=\s))[\s*_]*(?P<value>.*)$", re.I)


def labelled(text: str, labels: list[str], *, accept=None, same_line_only: bool = False) -> str | None:
    """The value of the first line `<label>: <value>`, or of a label alone on its line (the value on the next
    non-empty line). `accept(value)` filters candidates (e.g. only values that contain an e-mail address)."""
    return next(iter(labelled_all(text, labels, accept=accept, same_line_only=same_line_only)), None)


def labelled_all(text: str, labels: list[str], *, accept=None, same_line_only: bool = False) -> list[str]:
    """Every value `labelled` would consider, in order (a trade-in mail names two plates: the ad's and the customer's)."""
    pattern = _label_re(labels)
    lines = lines_of(text)
    values = []
    for i, line in enumerate(lines):
        m = pattern.match(line)
        if not m:
            continue
        value = m.group("value").strip(DECOR)
        if not value and not same_line_only:
            value = next((nxt.strip(DECOR) for nxt in lines[i + 1:i + 3] if nxt.strip(DECOR)), "")
            if LABEL_START.match(value):
                value = ""
        if value and (accept is None or accept(value)):
            values.append(value)
    return values


def block_after(text: str, labels: list[str], *, stop=None) -> str | None:
    """The text after a heading or label (same line and following lines) up to the next label line or a footer."""
    pattern = _label_re(labels)
    lines = lines_of(text)
    for i, line in enumerate(lines):
        m = pattern.match(line)
        if not m:
            continue
        collected = [m.group("value").strip(DECOR)] if m.group("value").strip(DECOR) else []
        for nxt in lines[i + 1:]:
            if FOOTERS.match(nxt) or LABEL_START.match(nxt) or (stop and stop(nxt)):
                break
            if collected and not collected[-1] and SECTION_HEADING.match(nxt):
                break
            if nxt.strip(DECOR + ":").lower() in KNOWN_LABELS:  # the next field of a form (label and value on own lines)
                break
            collected.append(nxt)
        body = "\n".join(collected).strip()
        if body:
            return re.sub(r"\n{3,}", "\n\n", body)
    return None


def email_in(value: str | None) -> str | None:
    m = EMAIL.search(value or "")
    return m.group(0) if m else None


def phone_in(value: str | None) -> str | None:
    """The first phone-like run of digits as written (9 to 15 digits)."""
    for m in PHONE.finditer(value or ""):
        candidate = m.group(0).strip(" .-")
        if candidate.count("(") > candidate.count(")"):
            candidate = candidate.lstrip("(")
        if 9 <= len(re.sub(r"\D", "", candidate)) <= 15:
            return candidate
    return None


def year_in(value: str | None) -> int | None:
    m = YEAR.search(value or "")
    return int(m.group(1)) if m else None


def mileage_in(value: str | None) -> int | None:
    m = re.search(r"\d[\d.,\s]*", value or "")
    if not m:
        return None
    digits = re.sub(r"[.,\s]", "", m.group(0))
    km = int(digits) if digits.isdigit() and len(digits) <= 8 else None
    if km is not None and re.search(r"\bmiles?\b|\bmi\b", value or "", re.I):
        km = round(km * 1.609344)
    return km


def price_in(value: str | None) -> tuple[Decimal | None, str | None]:
    """(amount, currency) from `€ 23.950,-`, `$24,995`, `£10,995`, `25995`, `€ 24.495`."""
    value = value or ""
    currency = "EUR" if "€" in value or "EUR" in value.upper() else "GBP" if "£" in value else None
    m = re.search(r"\d[\d.,\s]*", value)
    if not m:
        return None, currency
    raw = re.sub(r"[\s.,-]+$", "", m.group(0).strip()).replace(" ", "")
    parts = re.match(r"^(\d{1,3}(?:[.,]\d{3})+|\d+)(?:[.,](\d{1,2}))?$", raw)
    if not parts:
        return None, currency
    whole = re.sub(r"[.,]", "", parts.group(1))
    try:
        amount = Decimal(whole + ("." + parts.group(2) if parts.group(2) else ""))
    except InvalidOperation:
        return None, currency
    if amount <= 0 or amount >= Decimal("10000000000"):
        return None, currency
    return amount, currency


def plate_in(value: str | None) -> str | None:
    value = (value or "").strip(DECOR)
    m = re.match(r"^([A-Z0-9]{1,3}(?:[- ][A-Z0-9]{1,4}){1,2}|[A-Z0-9]{4,8})\b", value, re.I)
    if m and re.search(r"\d", m.group(1)) and re.search(r"[A-Z]", m.group(1), re.I):
        return m.group(1)
    return None


def vehicle_from_title(title: str | None) -> dict:
    """{year, make, model} read from a title such as `2022 Tesla Model 3 Long Range AWD`; case kept as written."""
    title = (title or "").strip()
    found: dict = {}
    m = _MAKE.search(title)
    if not m:
        return found
    found["make"] = m.group(1)
    rest = title[m.end():].split()
    if rest:
        model = rest[0].rstrip(",;")
        if model.lower() in TWO_WORD_MODELS and len(rest) > 1 and len(rest[1]) <= 6:
            model = f"{model} {rest[1].rstrip(',;')}"
        found["model"] = model
    # The year before the make, in parentheses, or after the model ("C-Class 2017"); never the model ("Peugeot 2008").
    year = (YEAR.search(title[:m.start()]) or re.search(r"\((19[5-9]\d|20[0-4]\d)\)", title)
            or (YEAR.search(" ".join(rest[2 if found.get("model", "").count(" ") else 1:])) if rest else None))
    if year:
        found["year"] = int(year.group(1))
    return found


def split_name(full: str | None) -> tuple[str, str]:
    full = re.sub(r"\s+", " ", (full or "").strip(DECOR + "\"'"))
    if not full or "@" in full:
        return "", ""
    first, _sep, last = full.partition(" ")
    return first, last
