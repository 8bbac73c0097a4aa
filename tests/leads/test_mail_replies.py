"""Replies come back: a customer's answer to a mail sent from a lead lands on that lead; a bounce undoes its attempt."""

import pytest
from django.core import mail as outbox

from followup.messaging import customer_email_send
from followup.models import ContactAttempt
from leads.models import Customer, EventType, Lead, Notification
from tests.factories import CustomerFactory, LeadFactory
from tests.leads.test_mail_api import mail_portal, post_mail  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(cast, django_capture_on_commit_callbacks):
    customer = CustomerFactory(dealer=cast.dealer_a, first_name="Sanne", last_name="Bakker", email="sanne@example.nl")
    lead = LeadFactory(dealer=cast.dealer_a, customer=customer, assignee=cast.sales_a1, contact_email="sanne@example.nl",
                       contact_first_name="Sanne", contact_last_name="Bakker")
    with django_capture_on_commit_callbacks(execute=True):
        delivery = customer_email_send(lead=lead, by=cast.sales_a1, subject="Uw aanvraag", body="Wanneer kan ik u bellen?")
    assert delivery.sent
    return lead, outbox.outbox[-1].extra_headers["Message-ID"]


def reply(message_id: str, text: str = "Morgen om 10 uur past goed.") -> bytes:
    return (f"From: Sanne Bakker <sanne@example.nl>\r\nTo: verkoop@a.test\r\nSubject: Re: Uw aanvraag\r\n"
            f"Message-ID: <antwoord-1@example.nl>\r\nIn-Reply-To: {message_id}\r\nReferences: {message_id}\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n\r\n> Wanneer kan ik u bellen?\r\n").encode()


def test_the_customers_answer_lands_on_the_lead_as_a_verified_reply(mail_portal, cast, sent):  # noqa: F811
    lead, message_id = sent
    response = post_mail(mail_portal, reply(message_id))
    assert response.status_code == 201
    assert [(b["id"], b["duplicate"]) for b in response.json()["leads"]] == [(str(lead.pk), True)]
    assert Lead.objects.for_dealer(cast.dealer_a).count() == 1 and Customer.objects.for_dealer(cast.dealer_a).count() == 1
    answer = ContactAttempt.objects.for_dealer(cast.dealer_a).get(lead=lead, outcome="replied")
    assert answer.verified and answer.channel == "email" and "Morgen om 10 uur" in answer.note
    lead.refresh_from_db()
    assert lead.status == "contacted" and lead.first_connected_at is not None
    assert lead.events.filter(type=EventType.ATTEMPT, text__contains="Morgen om 10 uur").exists()
    notice = Notification.objects.for_dealer(cast.dealer_a).get(kind="reply")
    assert notice.recipient == cast.sales_a1 and notice.lead == lead
    # The same answer delivered again changes nothing.
    assert post_mail(mail_portal, reply(message_id)).json()["leads"][0]["duplicate"] is True
    assert ContactAttempt.objects.for_dealer(cast.dealer_a).filter(outcome="replied").count() == 1


def test_an_answer_to_a_mail_we_never_sent_is_a_mail_like_any_other(mail_portal, cast, sent):  # noqa: F811
    response = post_mail(mail_portal, reply("<iets-anders@elders.nl>"))
    assert response.status_code == 201 and response.json()["leads"][0]["duplicate"] is False


def test_a_bounce_undoes_the_verified_attempt_and_tells_the_salesperson(mail_portal, cast, sent):  # noqa: F811
    lead, message_id = sent
    lead.refresh_from_db()
    assert lead.verified_attempts == 1
    bounce = (f"From: MAILER-DAEMON@mx.example.nl\r\nTo: verkoop@a.test\r\nSubject: Undelivered Mail Returned to Sender\r\n"
              f"Message-ID: <bounce-1@mx.example.nl>\r\nContent-Type: multipart/report; report-type=delivery-status; "
              f"boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nUser unknown.\r\n--XX\r\n"
              f"Content-Type: text/rfc822-headers\r\n\r\nFrom: sales1@a.test\r\nMessage-ID: {message_id}\r\n"
              f"Subject: Uw aanvraag\r\n--XX--\r\n").encode()
    response = post_mail(mail_portal, bounce)
    assert response.status_code == 200 and response.json()["ignored"] == "bounce"
    attempt = ContactAttempt.objects.for_dealer(cast.dealer_a).get(lead=lead)
    assert not attempt.verified and attempt.outcome == "wrong_number"
    lead.refresh_from_db()
    assert lead.verified_attempts == 0
    assert Notification.objects.for_dealer(cast.dealer_a).filter(kind="bounce", recipient=cast.sales_a1).exists()
    post_mail(mail_portal, bounce)  # a second delivery of the bounce: nothing more
    assert Notification.objects.for_dealer(cast.dealer_a).filter(kind="bounce").count() == 1


def test_with_a_connected_mailbox_the_customer_answers_to_it(cast, django_capture_on_commit_callbacks):
    from leads.models import Mailbox

    Mailbox.objects.create(dealer=cast.dealer_a, host="imap.a.test", port=993, username="verkoop@a.test",
                           password_encrypted="x")
    lead = LeadFactory(dealer=cast.dealer_a, assignee=cast.sales_a1, contact_email="jan@example.nl",
                       customer=CustomerFactory(dealer=cast.dealer_a, email="jan@example.nl"))
    with django_capture_on_commit_callbacks(execute=True):
        customer_email_send(lead=lead, by=cast.sales_a1, subject="Uw aanvraag", body="Hallo")
    assert outbox.outbox[-1].reply_to == ["verkoop@a.test"]
