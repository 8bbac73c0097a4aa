"""MIME as it comes: decode a message once into what the portal parsers read. Pure: no Django, no database.

Real mail lies about its charset (Windows-1252 bytes declared ISO-8859-1), nests parts, and sometimes has no
plain part worth reading; this module absorbs all of that so a portal parser only sees text.
"""

from __future__ import annotations

import codecs
import html
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import PreformattedString

MAX_PARTS = 200  # a mail with more parts than this is hostile or broken; the first ones carry the lead
MAX_DEPTH = 20  # nested multiparts beyond this are not read (stdlib's walk() would recurse without limit)
MAX_HTML_CHARS = 2 * 1024 * 1024  # HTML beyond this is not turned into text (a lead notice is a few KiB)
MAX_TEXT_CHARS = 200_000  # the readable body kept; a lead's message is capped far below this anyway
XML_TYPES = {"text/xml", "application/xml"}
HTML_STUB = re.compile(r"html (only|viewer|version)|alleen (in )?html|html[- ]weergave", re.I)

_PARSER = BytesParser(policy=policy.default)



class NotAMail(ValueError):
    """The bytes are not an RFC 5322 message (no header block at all)."""


@dataclass
class Mail:
    """One message decoded: what a portal parser reads (a forwarded lead becomes a Mail of its own)."""

    subject: str = ""
    from_addr: str = ""  # lower case
    from_name: str = ""
    reply_to_addr: str = ""
    reply_to_name: str = ""
    date_raw: str = ""
    text: str = ""  # the readable body: the plain part, or the HTML as text when the plain part is missing or a stub
    plain: str = ""
    html_text: str = ""
    links: list[str] = field(default_factory=list)
    xml_parts: list[bytes] = field(default_factory=list)  # ADF candidates: XML attachments and XML bodies
    inner_messages: list[Message] = field(default_factory=list)  # message/rfc822 parts (forward as attachment)
    headers: Message | None = None
    is_report: bool = False  # multipart/report: a delivery status notification
    forwarded: bool = False

    @property
    def from_domain(self) -> str:
        return self.from_addr.rpartition("@")[2]

    @property
    def from_local(self) -> str:
        return self.from_addr.partition("@")[0]

    def header(self, name: str) -> str:
        return header_text(self.headers, name) if self.headers is not None else ""


def message_from_bytes(raw: bytes) -> EmailMessage:
    if not raw or not raw.strip():
        raise NotAMail("The body is empty.")
    try:
        msg = _PARSER.parsebytes(raw)
    except RecursionError:  # the stdlib parser recurses per nesting level: read the headers, keep the body unparsed
        msg = _PARSER.parsebytes(raw, headersonly=True)
    names = {k.lower() for k in msg.keys()}
    if not names & {"from", "subject", "date", "message-id", "to", "received", "return-path", "reply-to", "sender",
                    "mime-version", "content-type"}:
        raise NotAMail("No RFC 5322 header block (From, Subject, Date, Message-ID, …) was found.")
    return msg


def header_text(msg: Message, name: str) -> str:
    """A header as text; a malformed one is returned as raw as it came rather than raising."""
    try:
        value = msg.get(name)
        return "" if value is None else re.sub(r"\s+", " ", str(value)).strip()
    except Exception:
        for key, raw in msg.raw_items():
            if key.lower() == name.lower():
                return re.sub(r"\s+", " ", str(raw)).strip()
        return ""


def first_address(value: str) -> tuple[str, str]:
    """(display name, lower-case address) of the first address in a header value."""
    try:
        pairs = getaddresses([value])
    except Exception:
        pairs = []
    for name, addr in pairs:
        if "@" in addr:
            return name.strip().strip('"'), addr.strip().lower()
    found = re.search(r"[\w.+'-]+@[\w-]+(\.[\w-]+)+", value or "")
    return "", found.group(0).lower() if found else ""


def decode_bytes(payload: bytes, declared: str | None) -> str:
    """Text from bytes under a charset that may lie. ISO-8859-1 and ASCII are read as Windows-1252 (as browsers do),
    so a € sent as 0x80 survives; undeclared 8-bit bytes are tried as UTF-8 first."""
    name = _codec(declared)
    if name in (None, "ascii", "latin-1", "iso8859-1"):
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError:
            return payload.decode("cp1252", errors="replace")
    try:
        return payload.decode(name)
    except (UnicodeDecodeError, LookupError):
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError:
            return payload.decode("cp1252", errors="replace")


def _codec(charset: str | None) -> str | None:
    if not charset:
        return None
    try:
        return codecs.lookup(charset.strip().strip('"').lower()).name
    except (LookupError, ValueError):
        return None


def _parts(msg: Message) -> list[tuple[Message, int]]:
    """The leaf parts in order, depth-first without recursion, with a cap on depth and count."""
    leaves: list[tuple[Message, int]] = []
    stack = [(msg, 0)]
    seen = 0
    while stack and seen < MAX_PARTS:
        part, depth = stack.pop()
        seen += 1
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list) and not part.get_content_type().startswith("message/"):  # an attached mail is a leaf
            if depth < MAX_DEPTH:
                stack.extend((child, depth + 1) for child in reversed(payload))
            continue
        leaves.append((part, depth))
    return leaves


def _part_text(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True) or b""
    except Exception:
        payload = (str(part.get_payload()) or "").encode("utf-8", "replace")
    if not isinstance(payload, bytes):
        payload = str(payload).encode("utf-8", "replace")
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    return decode_bytes(payload, charset)


def _disposition(part: Message) -> str:
    try:
        return (part.get_content_disposition() or "").lower()
    except Exception:
        return ""


def decode(msg: Message) -> Mail:
    """The message as a Mail: headers, readable text, links, XML parts, attached messages."""
    from_name, from_addr = first_address(header_text(msg, "From"))
    reply_name, reply_addr = first_address(header_text(msg, "Reply-To"))
    mail = Mail(subject=header_text(msg, "Subject"), from_addr=from_addr, from_name=from_name,
                reply_to_addr=reply_addr, reply_to_name=reply_name, date_raw=header_text(msg, "Date"), headers=msg,
                is_report=msg.get_content_type() == "multipart/report")
    plain, html_body = "", ""
    for part, _depth in _parts(msg):
        ctype = part.get_content_type()
        disposition = _disposition(part)
        if ctype == "message/rfc822" or (ctype.startswith("message/") and isinstance(part.get_payload(), list)):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                mail.inner_messages.append(inner[0])
            continue
        filename = (part.get_filename() or "").lower() if _safe_filename(part) else ""
        if ctype in XML_TYPES or filename.endswith(".xml") or filename.endswith(".adf"):
            try:
                mail.xml_parts.append(part.get_payload(decode=True) or b"")
            except Exception:
                pass
            continue
        if disposition == "attachment":
            continue
        if ctype == "text/plain" and not plain:
            plain = _part_text(part)
        elif ctype == "text/html" and not html_body:
            html_body = _part_text(part)
    mail.plain = _tidy(plain)
    if html_body:
        mail.html_text, mail.links = html_to_text(html_body)
    mail.text = _readable(mail.plain, mail.html_text)[:MAX_TEXT_CHARS]
    for body in (plain, html_body):  # ADF pasted into the body, as text or HTML-escaped inside an HTML part
        document = _adf_in(body)
        if document:
            mail.xml_parts.append(document.encode("utf-8"))
            break
    mail.links += [u for u in re.findall(r"https?://[^\s<>()\"']+", mail.text) if u not in mail.links]
    return mail


def _adf_in(body: str) -> str | None:
    """An ADF document pasted into a body (found with str.find: linear on any input)."""
    lower = body.lower()
    if "&lt;adf" in lower:
        body = html.unescape(re.sub(r"<[^<>]*>", "", body))
        lower = body.lower()
    start = lower.find("<adf")
    end = lower.find("</adf", start) if start >= 0 else -1
    if end < 0:
        return None
    close = lower.find(">", end)
    prolog = [p for p in (lower.rfind("<?xml", 0, start), lower.rfind("<?adf", 0, start)) if p >= 0 and start - p < 300]
    return body[min(prolog, default=start):close + 1 if close >= 0 else len(body)]


def _safe_filename(part: Message) -> bool:
    try:
        part.get_filename()
        return True
    except Exception:
        return False


def _readable(plain: str, html_text: str) -> str:
    """The plain part, unless it is missing, a stub ("use an HTML viewer") or far shorter than the HTML."""
    if not html_text:
        return plain
    if not plain.strip() or (len(plain) < 300 and HTML_STUB.search(plain)) or len(plain) < len(html_text) / 3:
        return html_text
    return plain


def _tidy(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


BLOCK_TAGS = {"p", "div", "tr", "td", "th", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6", "br",
              "section", "article", "header", "footer", "blockquote", "pre", "dt", "dd", "hr", "address", "center"}
SKIP_TAGS = {"script", "style", "head", "title", "noscript", "template"}


def html_to_text(markup: str) -> tuple[str, list[str]]:
    """HTML as readable text (blocks on their own lines, a link's address after its text) and its http(s) links.

    BeautifulSoup (html.parser) reads whatever HTML a mailer wrote; the walk over its elements is iterative, so a
    deeply nested hostile document cannot exhaust the stack.
    """
    soup = BeautifulSoup(markup[:MAX_HTML_CHARS], "html.parser")
    for skipped in soup.find_all(list(SKIP_TAGS)):
        skipped.extract()
    links: list[str] = []
    out: list[str] = []
    for node in soup.descendants:
        if isinstance(node, Tag):
            if node.name in BLOCK_TAGS:
                out.append("\n")
            if node.name == "a":
                href = (node.get("href") or "").strip()
                if href.lower().startswith(("http://", "https://")):
                    links.append(href)
            continue
        if not isinstance(node, NavigableString) or isinstance(node, PreformattedString):  # comments, doctype
            continue
        out.append(re.sub(r"\s+", " ", str(node)))
        parent = node.parent
        if isinstance(parent, Tag) and parent.name == "a" and parent.contents and parent.contents[-1] is node:
            href = (parent.get("href") or "").strip()
            if href.lower().startswith(("http://", "https://")) and href not in str(node):
                out.append(f" ( {href} )")
    text = "".join(out)
    lines = [line.strip() for line in text.split("\n")]
    return _tidy("\n".join(lines)), links
