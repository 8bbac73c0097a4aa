"""Forwarded mails: staff forward portal mail from `info@` to the sales mailbox. Gmail's "Forwarded message" /
"Doorgestuurd bericht" block, Outlook's "From:/Van:" header block (with or without "Original Message"), Apple Mail's
"Begin forwarded message", and a mail attached whole (message/rfc822) are unwrapped to the inner lead."""

from __future__ import annotations

import re

from .mime import Mail, decode, first_address

MARKER = re.compile(
    r"^[\s>*]*(?:-{2,}\s*(?:forwarded message|doorgestuurd bericht|original message|oorspronkelijk bericht|"
    r"origineel bericht|doorgestuurde e-?mail|weitergeleitete nachricht)\s*-{2,}|begin (?:forwarded message|"
    r"doorgestuurd bericht):?)\s*$", re.I | re.M)
FORWARD_SUBJECT = re.compile(r"^\s*(fwd?|fw|doorst|doorgestuurd|tr|wg)\s*:", re.I)
HEADER_LINE = re.compile(r"^[\s>*]*(from|van|date|datum|sent|verzonden|verstuurd|to|aan|cc|subject|onderwerp|"
                         r"reply-to|antwoord aan|beantwoorden aan)[\s*]*:[\s*]*(.*)$", re.I)
FROM_KEYS = {"from", "van"}
SUBJECT_KEYS = {"subject", "onderwerp"}
DATE_KEYS = {"date", "datum", "sent", "verzonden", "verstuurd"}
REPLY_KEYS = {"reply-to", "antwoord aan", "beantwoorden aan"}
MAX_NESTING = 5


def unwrap(mail: Mail) -> Mail:
    """The innermost forwarded mail, or the mail itself when it forwards nothing."""
    for _level in range(MAX_NESTING):
        inner = _attached(mail) or _inline(mail)
        if inner is None:
            return mail
        mail = inner
    return mail


def _attached(mail: Mail) -> Mail | None:
    if not mail.inner_messages or mail.is_report:
        return None
    inner = decode(mail.inner_messages[0])
    inner.forwarded = True
    return inner if inner.from_addr else None


def _inline(mail: Mail) -> Mail | None:
    lines = mail.text.split("\n")
    start = None
    marker = MARKER.search(mail.text)
    if marker:
        start = mail.text[:marker.end()].count("\n") + 1
    elif FORWARD_SUBJECT.match(mail.subject):
        start = next((i for i, line in enumerate(lines)
                      if (m := HEADER_LINE.match(line)) and m.group(1).lower() in FROM_KEYS), None)
    if start is None:
        return None
    headers: dict[str, str] = {}
    i = start
    while i < len(lines) and not lines[i].strip():
        i += 1
    while i < len(lines):
        m = HEADER_LINE.match(lines[i])
        if not m:
            break
        headers.setdefault(m.group(1).lower(), m.group(2).strip())
        i += 1
    sender = next((headers[k] for k in FROM_KEYS if k in headers), "")
    if not sender:
        return None
    body = "\n".join(lines[i:]).strip()
    if body and sum(line.startswith(">") for line in body.split("\n")) > len(body.split("\n")) / 2:
        body = re.sub(r"^> ?", "", body, flags=re.M)
    from_name, from_addr = first_address(sender.replace("[mailto:", "<").replace("]", ">").replace("*", ""))
    reply_name, reply_addr = first_address(next((headers[k] for k in REPLY_KEYS if k in headers), ""))
    return Mail(subject=next((headers[k] for k in SUBJECT_KEYS if k in headers), ""), from_addr=from_addr,
                from_name=from_name or sender.split("<")[0].strip(' "*'), reply_to_addr=reply_addr,
                reply_to_name=reply_name, date_raw=next((headers[k] for k in DATE_KEYS if k in headers), ""),
                text=body, plain=body, links=mail.links, xml_parts=mail.xml_parts, forwarded=True)
