"""Reading lead e-mails: MIME, forwards, portal formats. Pure: no Django, no database (docs/mail.md)."""

from .mime import NotAMail
from .reading import MailReading, parse_message

__all__ = ["MailReading", "NotAMail", "parse_message"]
