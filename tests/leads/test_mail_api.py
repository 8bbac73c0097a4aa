"""POST /api/v1/leads/mail/: a raw e-mail becomes a routed lead once, or is kept with the reason it is none."""

import os
import random
import threading

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from followup.models import ContactAttempt
from leads.mail_intake import mail_ingest, mail_promote
from leads.models import EventType, InboundMail, Lead
from routing.services import lead_route_new
from tests.factories import CustomerFactory, LeadFactory, api_key_for, open_all_week

SHARED = settings.BASE_DIR.parent / "shared" / "fixtures" / "mail"
OWN = settings.BASE_DIR / "tests" / "fixtures" / "mail"
URL = "/api/v1/leads/mail/"


def post_mail(client, raw: bytes, content_type="message/rfc822"):
    return client.generic("POST", URL, raw, content_type=content_type)


@pytest.fixture
def mail_portal(cast):
    open_all_week(cast.dealer_a)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(cast.dealer_a, source='mailforward')}")
    return client


@pytest.mark.django_db
def test_a_portal_mail_becomes_a_routed_lead_with_the_portal_as_source(mail_portal, cast):
    raw = (SHARED / "16-autoscout24-lead.eml").read_bytes()
    response = post_mail(mail_portal, raw)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["ignored"] is None and len(body["leads"]) == 1
    assert body["leads"][0]["duplicate"] is False and body["leads"][0]["needs_review"] is False
    lead = Lead.objects.unscoped().get()
    assert lead.source == "autoscout24" and lead.channel == "email" and lead.kind == "active"
    assert lead.assignee in (cast.sales_a1, cast.sales_a2)  # routed like any other lead
    assert lead.customer.phone == "+31612345601" and lead.vehicle["plate"] == "RT-482-N"
    mail = InboundMail.objects.unscoped().get()
    assert bytes(mail.raw) == raw and mail.channel == "api" and list(mail.leads.all()) == [lead]


@pytest.mark.django_db
def test_the_same_mail_again_is_a_duplicate_and_creates_nothing(mail_portal):
    raw = (SHARED / "22-autotrack-test-drive.eml").read_bytes()
    first = post_mail(mail_portal, raw).json()
    again = post_mail(mail_portal, raw)
    assert again.status_code == 201
    assert again.json()["leads"][0]["id"] == first["leads"][0]["id"]
    assert again.json()["leads"][0]["duplicate"] is True
    assert Lead.objects.unscoped().count() == 1 and InboundMail.objects.unscoped().count() == 1


@pytest.mark.django_db
def test_a_mail_without_message_id_is_a_duplicate_by_its_bytes(mail_portal):
    raw = b"From: Kees <kees@example.nl>\nSubject: Polo\n\nIs de Polo er nog?\n"
    assert post_mail(mail_portal, raw).status_code == 201
    assert post_mail(mail_portal, raw).json()["leads"][0]["duplicate"] is True
    assert InboundMail.objects.unscoped().get().message_identity.startswith("sha256:")


@pytest.mark.django_db
def test_a_mail_in_no_known_format_is_a_lead_for_review_under_the_keys_source(mail_portal):
    response = post_mail(mail_portal, (SHARED / "29-unknown-free-form.eml").read_bytes())
    assert response.status_code == 201
    assert response.json()["leads"][0]["needs_review"] is True
    lead = Lead.objects.unscoped().get()
    assert lead.source == "mailforward" and lead.needs_review and "blauwe Polo" in lead.message


@pytest.mark.django_db
def test_an_auto_reply_is_kept_and_answered_200_with_its_reason(mail_portal):
    response = post_mail(mail_portal, (SHARED / "27-auto-reply-out-of-office.eml").read_bytes())
    assert response.status_code == 200
    assert response.json() == {"leads": [], "ignored": "auto-reply"}
    assert Lead.objects.unscoped().count() == 0
    assert InboundMail.objects.unscoped().get().ignored == "auto-reply"


@pytest.mark.django_db
def test_a_missed_call_is_an_active_call_lead(mail_portal):
    response = post_mail(mail_portal, (SHARED / "19-marktplaats-call-missed.eml").read_bytes())
    assert response.status_code == 201
    lead = Lead.objects.unscoped().get()
    assert lead.channel == "call" and lead.kind == "active" and lead.source == "marktplaats"
    assert lead.customer.phone == "+31612345604" and lead.first_response_due_at is not None


@pytest.mark.django_db
def test_a_portal_resend_is_a_duplicate_on_the_first_lead(mail_portal):
    first = post_mail(mail_portal, (SHARED / "16-autoscout24-lead.eml").read_bytes()).json()
    resend = post_mail(mail_portal, (OWN / "nl-07-autoscout24-resend.eml").read_bytes())
    assert resend.status_code == 201
    assert resend.json()["leads"][0]["id"] == first["leads"][0]["id"] and resend.json()["leads"][0]["duplicate"] is True
    lead = Lead.objects.unscoped().get()
    assert lead.events.filter(type=EventType.DUPLICATE).count() == 1
    assert InboundMail.objects.unscoped().count() == 2  # both mails kept


@pytest.mark.django_db
def test_an_answered_call_logs_a_verified_connected_call_on_the_open_lead(mail_portal, cast):
    customer = CustomerFactory(dealer=cast.dealer_a, phone="+31612345601")
    lead = LeadFactory(dealer=cast.dealer_a, customer=customer, assignee=cast.sales_a1)
    raw = (OWN / "nl-10-autoscout24-answered-call.eml").read_bytes()
    response = post_mail(mail_portal, raw)
    assert response.status_code == 200 and response.json()["ignored"] == "call-answered"
    attempt = ContactAttempt.objects.unscoped().get(lead=lead)
    assert attempt.verified and attempt.outcome == "connected" and attempt.channel == "call"
    lead.refresh_from_db()
    assert lead.status == "contacted" and lead.first_connected_at is not None
    post_mail(mail_portal, raw)  # the same notice again logs nothing more
    assert ContactAttempt.objects.unscoped().filter(lead=lead).count() == 1


@pytest.mark.django_db
def test_an_answered_call_without_a_matching_lead_is_only_kept(mail_portal):
    response = post_mail(mail_portal, (OWN / "nl-10-autoscout24-answered-call.eml").read_bytes())
    assert response.status_code == 200 and ContactAttempt.objects.unscoped().count() == 0
    assert InboundMail.objects.unscoped().get().ignored == "call-answered"


@pytest.mark.django_db
def test_a_manager_turns_an_ignored_mail_into_a_lead_once(mail_portal, cast):
    post_mail(mail_portal, (SHARED / "27-auto-reply-out-of-office.eml").read_bytes())
    mail = InboundMail.objects.unscoped().get()
    result = mail_promote(mail=mail, by=cast.manager_a, route=lead_route_new)
    assert result.created and result.lead.customer.email == "femke.jacobs@example.nl"
    assert result.lead.kind == "active" and result.lead.events.filter(type=EventType.NOTE, actor=cast.manager_a).exists()
    again = mail_promote(mail=mail, by=cast.manager_a, route=lead_route_new)
    assert not again.created and again.lead == result.lead and Lead.objects.unscoped().count() == 1


@pytest.mark.django_db
def test_a_mail_whose_lead_cannot_be_read_is_kept_with_its_error(mail_portal):
    raw = (b"From: AutoTrack <noreply@autotrack.nl>\nSubject: Proefritaanvraag\nMessage-ID: <nocontact@autotrack.nl>\n\n"
           b"Proefritaanvraag\nNaam: Onbekend\n")
    response = post_mail(mail_portal, raw)
    assert response.status_code == 200 and response.json()["ignored"] is None
    mail = InboundMail.objects.unscoped().get()
    assert mail.error and mail.needs_review and Lead.objects.unscoped().count() == 0


@pytest.mark.django_db
def test_the_key_that_delivered_a_mail_reads_its_lead_back_and_outsiders_get_404(mail_portal, cast):
    lead_id = post_mail(mail_portal, (SHARED / "16-autoscout24-lead.eml").read_bytes()).json()["leads"][0]["id"]
    read = mail_portal.get(f"/api/v1/leads/{lead_id}/")
    assert read.status_code == 200, read.content
    assert read.json()["source"] == "autoscout24" and read.json()["vehicle"]["plate"] == "RT-482-N"
    assert read.json()["needs_review"] is False
    outsider = APIClient()
    outsider.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(cast.dealer_b, source='mailforward')}")
    assert outsider.get(f"/api/v1/leads/{lead_id}/").status_code == 404
    other_key = APIClient()  # the same dealer's key for another source did not deliver it
    other_key.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(cast.dealer_a, source='website')}")
    assert other_key.get(f"/api/v1/leads/{lead_id}/").status_code == 404


@pytest.mark.django_db
def test_dealer_b_posting_the_same_mail_gets_its_own_lead(mail_portal, cast):
    raw = (SHARED / "22-autotrack-test-drive.eml").read_bytes()
    post_mail(mail_portal, raw)
    open_all_week(cast.dealer_b)
    b = APIClient()
    b.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(cast.dealer_b)}")
    response = post_mail(b, raw)
    assert response.status_code == 201 and response.json()["leads"][0]["duplicate"] is False
    assert Lead.objects.for_dealer(cast.dealer_b).count() == 1


@pytest.mark.django_db
def test_another_content_type_is_415_and_stores_nothing(mail_portal):
    raw = (SHARED / "16-autoscout24-lead.eml").read_bytes()
    for content_type in ("text/plain", "application/json", "application/octet-stream"):
        response = post_mail(mail_portal, raw, content_type=content_type)
        assert response.status_code == 415, (content_type, response.content)
        assert response["Content-Type"].startswith("application/problem+json")
    assert InboundMail.objects.unscoped().count() == 0


@pytest.mark.django_db
def test_a_body_that_is_no_mail_is_400_problem_and_stores_nothing(mail_portal):
    for raw in (b"", b"just some text", os.urandom(2048)):
        response = post_mail(mail_portal, raw)
        assert response.status_code == 400, response.content
        assert response["Content-Type"].startswith("application/problem+json")
    assert InboundMail.objects.unscoped().count() == 0


@pytest.mark.django_db
def test_a_ten_mib_mail_is_read_and_one_byte_more_is_413(mail_portal):
    head = (b"From: Jan <jan@example.nl>\nSubject: Foto's van mijn inruilauto\nMessage-ID: <big@example.nl>\n"
            b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/plain\n\n"
            b"Wat is mijn Golf waard? Foto's in de bijlage.\n--B\nContent-Type: image/jpeg\n"
            b"Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=golf.jpg\n\n")
    tail = b"\n--B--\n"
    limit = settings.MAIL_BODY_MAX_BYTES
    filler = (b"QUJDRA==" * 10 + b"\n") * ((limit - len(head) - len(tail)) // 81)
    raw = head + filler + b"A" * (limit - len(head) - len(tail) - len(filler)) + tail
    assert len(raw) == limit
    response = post_mail(mail_portal, raw)
    assert response.status_code == 201, response.content[:300]
    assert "Golf waard" in Lead.objects.unscoped().get().message
    too_big = post_mail(mail_portal, raw + b"x")
    assert too_big.status_code == 413 and InboundMail.objects.unscoped().count() == 1


@pytest.mark.django_db
def test_hostile_input_never_gets_a_5xx(mail_portal):
    rng = random.Random(13)
    bodies = [
        b"From: x@example.nl\nSubject: " + b"A" * 200_000 + b"\n\nhallo\n",  # a huge header
        b"From: x@example.nl\n" + b"X-H: y\n" * 20_000 + b"\nhallo\n",  # very many headers
        b"From: x@example.nl\nContent-Type: multipart/mixed; boundary=\n\n--\n--\n",
        b"From: \"\\\"<<<@@@>>>\" <\x00@\xff>\nSubject: =?utf-8?B?////?=\nDate: 99 Foo 99999 99:99:99\n\n\x00\xff",
        b"Content-Type: text/html; charset=x-unknown\n\n<div>" * 50 + b"<a href='javascript:x'>x</a>",
        b"From: x@example.nl\nContent-Type: text/plain; charset=utf-16\nContent-Transfer-Encoding: base64\n\n////\n",
        b"From: x@example.nl\nContent-Type: message/rfc822\n\nFrom: y@example.nl\nContent-Type: message/rfc822\n\n",
        b"From: \x00nul@example.nl\nMessage-ID: <\x00\x00@x>\nSubject: \x00\n\n\x00 Naam: \x00\n",
    ]
    depth = 1000
    bodies.append(b"From: n@example.nl\n" + b"".join(b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i)
                                                      for i in range(depth)) + b"Content-Type: text/plain\n\nhoi\n")
    bodies += [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 4000))) for _ in range(20)]
    bodies += [b"From: r@example.nl\nSubject: r\n\n" + bytes(rng.getrandbits(8) for _ in range(3000)) for _ in range(10)]
    for raw in bodies:
        response = post_mail(mail_portal, raw)
        assert response.status_code < 500, (raw[:80], response.content[:300])


@pytest.mark.django_db
def test_the_endpoint_stays_within_its_query_budget(mail_portal, django_assert_max_num_queries):
    raw = (SHARED / "16-autoscout24-lead.eml").read_bytes()
    with django_assert_max_num_queries(26):  # 24 measured: key, throttle, mail row, intake, routing, links
        assert post_mail(mail_portal, raw).status_code == 201


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_posts_of_the_same_mail_make_one_lead(cast):
    open_all_week(cast.dealer_a)
    key = api_key_for(cast.dealer_a)
    raw = (SHARED / "22-autotrack-test-drive.eml").read_bytes()
    barrier, lock, statuses, ids = threading.Barrier(2), threading.Lock(), [], []

    def worker():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        barrier.wait()
        try:
            response = post_mail(client, raw)
            with lock:
                statuses.append(response.status_code)
                ids.append(response.json()["leads"][0]["id"])
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [201, 201] and ids[0] == ids[1]
    assert Lead.objects.unscoped().count() == 1 and InboundMail.objects.unscoped().count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_ingests_from_the_mailbox_side_make_one_lead(cast):
    """The poller calls the service directly; two pollers at once read the mail into one lead."""
    open_all_week(cast.dealer_a)
    raw = (SHARED / "16-autoscout24-lead.eml").read_bytes()
    barrier, results = threading.Barrier(2), []

    def worker():
        barrier.wait()
        try:
            results.append(mail_ingest(dealer=cast.dealer_a, raw=raw, fallback_source="imap", channel="imap",
                                       route=lead_route_new))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.duplicate for r in results) == [False, True]
    assert Lead.objects.unscoped().count() == 1 and InboundMail.objects.unscoped().get().channel == "imap"



@pytest.mark.django_db
def test_the_manager_lists_the_mails_set_aside_with_their_reason(mail_portal, cast, django_assert_max_num_queries):
    from leads.selectors import mail_list

    post_mail(mail_portal, (SHARED / "27-auto-reply-out-of-office.eml").read_bytes())
    post_mail(mail_portal, (OWN / "nl-12-autoscout24-marketing.eml").read_bytes())
    post_mail(mail_portal, (SHARED / "16-autoscout24-lead.eml").read_bytes())
    with django_assert_max_num_queries(1):
        aside = [(m.ignored, m.subject) for m in mail_list(dealer=cast.dealer_a, set_aside_only=True)]
    assert sorted(reason for reason, _subject in aside) == ["auto-reply", "marketing"]
    assert len(mail_list(dealer=cast.dealer_a)) == 3 and not mail_list(dealer=cast.dealer_b).exists()


@pytest.mark.django_db
def test_values_longer_than_the_contract_allows_are_cut_not_lost(mail_portal):
    raw = ("From: " + "Jan" * 200 + " <jan@example.nl>\nSubject: Golf\nMessage-ID: <long@x>\n\nIs de Golf er nog?\n"
           "Voornaam: " + "A" * 400 + "\nE-mail: jan@example.nl\nTelefoon: 0612345678\nKenteken: " + "X1" * 30 + "\n"
           "Vraag: " + "lang " * 6000 + "\n").encode()
    response = post_mail(mail_portal, raw)
    assert response.status_code == 201, response.content
    lead = Lead.objects.unscoped().get()
    assert lead.customer.email == "jan@example.nl" and len(lead.customer.first_name) == 150
