"""Messages to customers sent through the product.

A mail the product sent itself is proof that the attempt happened, so it is logged as a *verified* attempt;
only a mail the backend accepted counts. Mail is slow I/O: it goes out after the surrounding transaction commits.
"""

import logging
from dataclasses import dataclass
from urllib.parse import quote

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.message import make_msgid
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from dealers.errors import FollowUpRuleError, LeadClosed
from leads.models import Lead
from leads.quality import header_text
from leads.selectors import mailbox_reply_address

from .contact import customer_email_address, vehicle_label
from .models import AttemptChannel, AttemptOutcome, ContactAttempt
from .services import attempt_log, sent_mail_ref

logger = logging.getLogger(__name__)


class CustomerEmailError(FollowUpRuleError):
    status_code = 400


@dataclass
class CustomerTemplate:
    subject: str
    body: str
    short: str  # for WhatsApp and SMS


def _customer_language(lead: Lead) -> str:
    language = (lead.contact_language or "").lower()[:2]
    return language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


class ReplyTemplates:
    """The first-reply texts in each customer's language, translated once per language and filled in per lead.

    The inbox builds 25 of these per page; translating once per language keeps it fast.
    """

    def __init__(self, *, sender):
        self.sender = sender
        self._texts: dict[str, dict[str, str]] = {}

    def _for_language(self, language: str) -> dict[str, str]:
        if language not in self._texts:
            with translation.override(language):
                self._texts[language] = {
                    "greeting": _("Dear %(name)s,"),
                    "greeting_anonymous": _("Hello,"),
                    "subject": _("Your enquiry about the %(vehicle)s"),
                    "subject_no_vehicle": _("Your enquiry at %(dealer)s"),
                    "thanks": _("Thank you for your enquiry about the %(vehicle)s at %(dealer)s."),
                    "thanks_no_vehicle": _("Thank you for your enquiry at %(dealer)s."),
                    "short": _("Hello %(name)s, this is %(sender)s of %(dealer)s about your enquiry for the %(vehicle)s. "
                               "When may I call you?"),
                    "short_no_vehicle": _("Hello %(name)s, this is %(sender)s of %(dealer)s about your enquiry. "
                                          "When may I call you?"),
                    "invitation": _("I would like to help you further. When would suit you for a short call, or a visit to "
                                    "our showroom? You can simply reply to this e-mail."),
                    "regards": _("Kind regards,"),
                }
        return self._texts[language]

    def for_lead(self, lead: Lead) -> CustomerTemplate:
        """The same energy for every lead, whatever its data looks like."""
        texts = self._for_language(_customer_language(lead))
        name = lead.contact_name  # greet the person who wrote this lead, as they wrote
        vehicle = vehicle_label(lead.vehicle or {})
        names = {"vehicle": vehicle, "dealer": lead.dealer.name, "sender": self.sender.display_name, "name": name}
        suffix = "" if vehicle else "_no_vehicle"
        greeting = texts["greeting"] % names if name else texts["greeting_anonymous"]
        body = "\n\n".join([greeting, texts["thanks" + suffix] % names, texts["invitation"],
                             f"{texts['regards']}\n{self.sender.display_name}\n{lead.dealer.name}"])
        # A chat message greets by first name and introduces the sender as a message does ("this is"), not a phone.
        short = texts["short" + suffix] % {**names, "name": lead.contact_first_name or name}
        short = " ".join(short.split()).replace(" ,", ",")  # no name: "Hello, this is …"
        return CustomerTemplate(subject=texts["subject" + suffix] % names, body=body, short=short)


def customer_template(*, lead: Lead, sender) -> CustomerTemplate:
    """The first-reply text for one lead, in the customer's language."""
    return ReplyTemplates(sender=sender).for_lead(lead)


def mailto_href(*, email: str, subject: str, body: str) -> str:
    return f"mailto:{quote(email, safe='@')}?subject={quote(subject)}&body={quote(body)}"


@dataclass
class EmailDelivery:
    """Filled in once the mail was tried, which is after the caller's transaction commits."""

    sent: bool | None = None
    attempt: ContactAttempt | None = None
    error: str = ""


def customer_email_send(*, lead: Lead, by, subject: str, body: str) -> EmailDelivery:
    """Send a mail to the customer through the mail backend after commit; log it as a verified attempt if it went out.

    A failure leaves no attempt at all: an unsent mail is no proof of anything.
    """
    if lead.closed_at is not None:
        raise LeadClosed(_("This lead is already closed."))
    address = customer_email_address(lead)
    if not address:
        raise CustomerEmailError(_("This customer has no e-mail address; call, text or WhatsApp them instead."))
    delivery = EmailDelivery()
    message_id = make_msgid(domain="opvolger.local")
    # Answers go to the dealer's mailbox that Opvolger reads (they come back onto this lead), else to the sender.
    reply_address = mailbox_reply_address(dealer=lead.dealer_id) or getattr(by, "email", "")
    reply_to = [reply_address] if reply_address else None
    message = EmailMessage(subject=header_text(subject), body=body, to=[address], reply_to=reply_to,
                           headers={"Message-ID": message_id})

    def deliver():
        try:
            message.send(fail_silently=False)
        except Exception as exc:  # any backend failure: record nothing, tell the salesperson
            logger.warning("Mail to the customer of lead %s failed: %s", lead.pk, exc)
            delivery.sent, delivery.error = False, str(exc)[:500]
            return
        delivery.sent = True
        delivery.attempt = attempt_log(lead=lead, by=by, channel=AttemptChannel.EMAIL, outcome=AttemptOutcome.SENT,
                                       note=subject, verified=True, external_ref=sent_mail_ref(message_id))

    transaction.on_commit(deliver, robust=False)
    return delivery
