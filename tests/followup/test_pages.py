"""The salesperson's pages with Django's test client: the inbox, the lead page and its one-tap actions, without JavaScript."""

import datetime as dt
import re
import zoneinfo

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from dealers.models import FollowUpPolicy
from followup.messaging import customer_email_send
from followup.models import Appointment, ContactAttempt
from followup.presenters import countdown_text
from followup.services import attempt_log
from leads.models import EventType, Lead, LeadEvent, Notification, NotificationKind, Status
from tests.factories import CustomerFactory, LeadFactory

AMSTERDAM = zoneinfo.ZoneInfo("Europe/Amsterdam")


class BrokenMailBackend(BaseEmailBackend):
    """A mail server that refuses everything."""

    def send_messages(self, email_messages):
        raise ConnectionRefusedError("smtp.example.nl refused the connection")


def lead_for(user, dealer, *, first_name="Jan", last_name="de Vries", due_in=dt.timedelta(minutes=4), **kwargs):
    customer = kwargs.pop("customer", None) or CustomerFactory(dealer=dealer, first_name=first_name, last_name=last_name)
    now = timezone.now()
    due = now + due_in
    defaults = {"received_at": now - dt.timedelta(minutes=1), "first_response_due_at": due, "deadline_at": due,
                "next_action_at": due, "source": "marktplaats"}
    defaults.update(kwargs)
    return LeadFactory(dealer=dealer, customer=customer, assignee=user, **defaults)


@pytest.fixture
def sales_client(client, cast):
    client.force_login(cast.sales_a1)
    return client


def names_in_order(html: str) -> list[str]:
    return re.findall(r'class="lead-name" href="[^"]+">([^<]+)</a>', html)


# ---------------------------------------------------------------------------------------------- the inbox

def test_inbox_shows_my_open_leads_overdue_first_response_first(sales_client, cast):
    dealer, me = cast.dealer_a, cast.sales_a1
    now = timezone.now()
    in_two_hours = now + dt.timedelta(hours=2)  # same deadline: the higher score goes first
    lead_for(me, dealer, first_name="Later", first_response_due_at=in_two_hours, deadline_at=in_two_hours, score=90)
    lead_for(me, dealer, first_name="Wachtend", due_in=-dt.timedelta(minutes=10))  # nobody answered yet: overdue first response
    # Already tried once and the next attempt is even more overdue; still after the unanswered customer.
    lead_for(me, dealer, first_name="Opnieuw", due_in=-dt.timedelta(hours=3), first_contact_at=now - dt.timedelta(hours=5))
    lead_for(me, dealer, first_name="Hoog", first_response_due_at=in_two_hours, deadline_at=in_two_hours, score=95)
    lead_for(cast.sales_a2, dealer, first_name="Collega")
    lead_for(me, dealer, first_name="Gesloten", status=Status.SOLD, closed_at=now)

    response = sales_client.get(reverse("inbox"))

    assert response.status_code == 200
    assert [n.split()[0] for n in names_in_order(response.content.decode())] == ["Wachtend", "Opnieuw", "Hoog", "Later"]


def test_inbox_card_has_countdown_vehicle_source_one_tap_contact_and_outcome_buttons(sales_client, cast):
    lead = lead_for(cast.sales_a1, cast.dealer_a, vehicle={"make": "Kia", "model": "Niro", "year": 2024},
                    customer=CustomerFactory(dealer=cast.dealer_a, first_name="Sanne", last_name="Bakker",
                                             email="sanne@example.nl", phone="+31612345678", phone_raw="06 12345678"))

    html = sales_client.get(reverse("inbox")).content.decode()

    assert "Kia Niro 2024" in html and "marktplaats" in html
    assert re.search(r'class="countdown" data-deadline="[^"]+">[34] min left<', html)  # read at a glance, to the minute
    assert "1 min ago" in html  # when it arrived
    assert 'href="tel:+31612345678"' in html
    assert 'href="https://wa.me/31612345678?text=' in html
    assert 'href="sms:+31612345678?body=' in html
    assert 'href="mailto:sanne@example.nl?subject=Your%20enquiry%20about%20the%20Kia%20Niro%202024&amp;body=' in html
    card = html[html.index(f'id="lead-{lead.pk}"'):]
    for outcome in ("connected", "no_answer", "voicemail", "busy"):
        assert f'name="outcome" value="{outcome}"' in card


def test_the_inbox_puts_the_lead_that_is_really_latest_first(sales_client, cast):
    """A reassignment gave the 12-day-old lead a fresh deadline; its missed first response still counts."""
    now = timezone.now()
    lead_for(cast.sales_a1, cast.dealer_a, first_name="Vers", due_in=dt.timedelta(seconds=59))
    lead_for(cast.sales_a1, cast.dealer_a, first_name="Later", due_in=dt.timedelta(hours=3))
    lead_for(cast.sales_a1, cast.dealer_a, first_name="Vergeten", received_at=now - dt.timedelta(days=12),
             first_response_due_at=now - dt.timedelta(days=12), deadline_at=now + dt.timedelta(hours=8, minutes=45),
             next_action_at=now + dt.timedelta(hours=9))

    html = sales_client.get(reverse("inbox")).content.decode()

    assert [n.split()[0] for n in names_in_order(html)] == ["Vergeten", "Vers", "Later"]
    forgotten = html[html.index(">Vergeten"):]
    assert re.search(r'class="countdown late" data-deadline="[^"]+">12 d late<', forgotten)
    assert "left" not in forgotten[:forgotten.index("</li>")]


@pytest.mark.parametrize(("seconds", "text", "late"), [
    (59, "0 min left", False), (12 * 60 + 30, "12 min left", False), (8 * 3600 + 45 * 60 + 10, "8 h 45 left", False),
    (-12 * 60, "12 min late", True), (-(2 * 3600 + 5 * 60), "2 h 05 late", True), (-3 * 86400, "3 d late", True),
])
def test_countdowns_are_read_at_a_glance(seconds, text, late):
    now = timezone.now()
    assert countdown_text(now + dt.timedelta(seconds=seconds), now) == (text, late)


def test_a_far_deadline_is_told_as_its_clock_time():
    now = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
    with timezone.override(dt.UTC):
        assert countdown_text(now + dt.timedelta(hours=13, minutes=5), now) == ("at 21:05", False)
        assert countdown_text(now + dt.timedelta(days=1, hours=1, minutes=5), now) == ("at Wed 09:05", False)


def test_odd_data_gets_a_hint_not_a_lower_place(sales_client, cast):
    customer = CustomerFactory(dealer=cast.dealer_a, first_name="Henk", last_name="Smit", phone="", phone_raw="0000000000")
    lead_for(cast.sales_a1, cast.dealer_a, customer=customer, data_flags=["phone_placeholder"], due_in=dt.timedelta(minutes=1))
    lead_for(cast.sales_a1, cast.dealer_a, first_name="Normaal", due_in=dt.timedelta(minutes=30), score=100)

    html = sales_client.get(reverse("inbox")).content.decode()

    assert [n.split()[0] for n in names_in_order(html)] == ["Henk", "Normaal"]
    assert "Phone number looks like a placeholder" in html
    assert 'href="tel:0000000000"' not in html  # no pointless call button; the mail button is there
    assert 'href="mailto:' in html


def test_inbox_query_count_is_the_same_for_10_and_200_leads(sales_client, cast, django_assert_num_queries):
    def create(n):
        for i in range(n):
            lead_for(cast.sales_a1, cast.dealer_a, first_name=f"Klant{i}", due_in=dt.timedelta(minutes=i - 5))

    create(10)
    sales_client.get(reverse("inbox"))  # the first visit creates the dealer's follow-up policy
    with CaptureQueriesContext(connection) as few:
        assert sales_client.get(reverse("inbox")).status_code == 200
    create(190)
    with django_assert_num_queries(len(few.captured_queries)):
        response = sales_client.get(reverse("inbox"))
    assert response.context["open_count"] == 200
    assert len(response.context["cards"]) == 20  # the rest is one "more leads" tap away
    assert "?page=2" in response.content.decode()


# ---------------------------------------------------------------------------------------------- the scope

def test_another_salespersons_lead_is_not_reachable(client, cast):
    lead = lead_for(cast.sales_a2, cast.dealer_a)
    client.force_login(cast.sales_a1)

    assert client.get(reverse("lead_detail", args=[lead.pk])).status_code == 404
    response = client.post(reverse("lead_attempt", args=[lead.pk]), {"channel": "call", "outcome": "no_answer"})
    assert response.status_code == 404
    assert client.post(reverse("lead_close", args=[lead.pk]), {"outcome": "lost"}).status_code == 404
    assert not ContactAttempt.objects.unscoped().filter(lead=lead).exists()
    lead.refresh_from_db()
    assert lead.closed_at is None


def test_another_dealers_user_gets_404_and_a_bdc_agent_has_no_inbox(client, cast):
    lead = lead_for(cast.sales_a1, cast.dealer_a)
    client.force_login(cast.outsider_b)
    assert client.get(reverse("lead_detail", args=[lead.pk])).status_code == 404
    assert client.post(reverse("lead_appointment", args=[lead.pk]), {"slot": "2030-01-01T10:00"}).status_code == 404
    assert client.get(reverse("lead_detail", args=[lead.pk]) + "?dealer=dealer-a").status_code == 404
    assert lead.pk.hex not in client.get(reverse("inbox")).content.decode()

    client.force_login(cast.bdc_a)
    assert client.get(reverse("inbox")).status_code == 403
    assert client.get(reverse("lead_detail", args=[lead.pk])).status_code == 404


def test_the_manager_may_open_any_lead_of_the_dealer(client, cast):
    lead = lead_for(cast.sales_a1, cast.dealer_a)
    client.force_login(cast.manager_a)
    assert client.get(reverse("lead_detail", args=[lead.pk])).status_code == 200


# ---------------------------------------------------------------------------------------------- actions without JavaScript

def test_one_tap_logs_a_call_and_returns_to_the_card(sales_client, cast):
    lead = lead_for(cast.sales_a1, cast.dealer_a)
    back = reverse("inbox") + f"#lead-{lead.pk}"

    response = sales_client.post(reverse("lead_attempt", args=[lead.pk]),
                                 {"channel": "call", "outcome": "no_answer", "next": back})

    assert response.status_code == 302 and response["Location"] == back
    attempt = ContactAttempt.objects.unscoped().get(lead=lead)
    assert (attempt.channel, attempt.outcome, attempt.user, attempt.verified) == ("call", "no_answer", cast.sales_a1, False)
    page = sales_client.get(back).content.decode()
    # The confirmation sits in the card that was tapped (where the anchor lands), with a real plural.
    card = page[page.index(f'id="lead-{lead.pk}"'):]
    card = card[:card.index("</li>")]
    assert "Logged: No answer. 3 more attempts before you may close it as unreachable." in card
    assert page.count("Logged: No answer.") == 1


def test_a_connected_call_lands_on_the_appointment(sales_client, cast):
    lead = lead_for(cast.sales_a1, cast.dealer_a)
    response = sales_client.post(reverse("lead_attempt", args=[lead.pk]),
                                 {"channel": "call", "outcome": "connected", "next": reverse("inbox")})
    assert response["Location"] == reverse("lead_detail", args=[lead.pk]) + "#appointment"
    lead.refresh_from_db()
    assert lead.status == Status.CONTACTED


def test_an_outside_next_url_is_ignored(sales_client, cast):
    lead = lead_for(cast.sales_a1, cast.dealer_a)
    response = sales_client.post(reverse("lead_attempt", args=[lead.pk]),
                                 {"channel": "call", "outcome": "busy", "next": "https://evil.example/"})
    assert response["Location"] == reverse("lead_detail", args=[lead.pk]) + "#log"


def test_invalid_input_is_refused_with_a_message(sales_client, cast):
    lead = lead_for(cast.sales_a1, cast.dealer_a)
    response = sales_client.post(reverse("lead_attempt", args=[lead.pk]), {"channel": "fax", "outcome": "no_answer"},
                                 follow=True)
    assert "Channel: Select a valid choice." in response.content.decode()
    assert not ContactAttempt.objects.unscoped().exists()


def test_an_appointment_in_two_taps_is_stored_in_amsterdam_time(sales_client, cast):
    lead = lead_for(cast.sales_a1, cast.dealer_a)
    page = sales_client.get(reverse("lead_detail", args=[lead.pk])).content.decode()
    slots = re.findall(r'<input type="radio" name="slot" value="([^"]+)">', page)
    assert len(slots) == 4
    assert re.search(r'name="slot" value="[^"]+">tomorrow 10:00<', page)

    slot = slots[0]
    response = sales_client.post(reverse("lead_appointment", args=[lead.pk]), {"slot": slot, "kind": "test_drive"})

    assert response["Location"].endswith("#appointment")
    appointment = Appointment.objects.unscoped().get(lead=lead)
    local = appointment.scheduled_at.astimezone(AMSTERDAM)
    assert local.strftime("%Y-%m-%dT%H:%M") == slot
    assert appointment.kind == "test_drive"
    lead.refresh_from_db()
    assert lead.status == Status.APPOINTMENT


def test_an_appointment_in_the_past_is_refused(sales_client, cast):
    lead = lead_for(cast.sales_a1, cast.dealer_a)
    yesterday = (timezone.localtime(timezone.now(), AMSTERDAM) - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = sales_client.post(reverse("lead_appointment", args=[lead.pk]), {"scheduled_at": yesterday, "kind": "showroom"},
                                 follow=True)
    assert "That time has already passed" in response.content.decode()
    assert not Appointment.objects.unscoped().exists()


def test_moving_an_appointment_and_recording_the_show(sales_client, cast):
    lead = lead_for(cast.sales_a1, cast.dealer_a)
    appointment = Appointment.objects.create(dealer=cast.dealer_a, lead=lead, scheduled_at=timezone.now() - dt.timedelta(hours=1))
    new_time = (timezone.localtime(timezone.now(), AMSTERDAM) + dt.timedelta(days=2)).replace(hour=11, minute=30)
    sales_client.post(reverse("lead_appointment_move", args=[lead.pk, appointment.pk]),
                      {"scheduled_at": new_time.strftime("%Y-%m-%dT%H:%M")})
    appointment.refresh_from_db()
    assert appointment.scheduled_at.astimezone(AMSTERDAM).strftime("%d %H:%M") == new_time.strftime("%d 11:30")

    sales_client.post(reverse("lead_appointment_outcome", args=[lead.pk, appointment.pk]), {"showed": "yes"})
    appointment.refresh_from_db()
    assert appointment.showed is True


def _spaced_attempts(lead, user, n):
    start = timezone.now() - dt.timedelta(days=n)
    for i in range(n):
        attempt_log(lead=lead, by=user, channel="call", outcome="no_answer", at=start + dt.timedelta(days=i))


def test_closing_as_unreachable_shows_and_enforces_the_attempts_still_owed(sales_client, cast):
    lead = lead_for(cast.sales_a1, cast.dealer_a)
    _spaced_attempts(lead, cast.sales_a1, 3)

    page = sales_client.get(reverse("lead_detail", args=[lead.pk])).content.decode()
    assert "1 more contact attempt is needed before you may close this lead as unreachable (minimum 4)." in page
    assert re.search(r'value="unreachable" class="[^"]*" disabled', page)

    refused = sales_client.post(reverse("lead_close", args=[lead.pk]), {"outcome": "unreachable"}, follow=True)
    assert "1 more contact attempt is needed before this lead may be closed" in refused.content.decode()
    lead.refresh_from_db()
    assert lead.closed_at is None

    sales_client.post(reverse("lead_attempt", args=[lead.pk]), {"channel": "call", "outcome": "voicemail"})
    page = sales_client.get(reverse("lead_detail", args=[lead.pk])).content.decode()
    assert "The minimum of 4 contact attempts is reached." in page
    response = sales_client.post(reverse("lead_close", args=[lead.pk]), {"outcome": "unreachable", "reason": "Nooit opgenomen"})
    assert response["Location"] == reverse("inbox")
    lead.refresh_from_db()
    assert lead.status == Status.UNREACHABLE


def test_the_bant_score_is_editable(sales_client, cast):
    lead = lead_for(cast.sales_a1, cast.dealer_a)
    sales_client.post(reverse("lead_score", args=[lead.pk]), {"budget": 20, "authority": 25, "need": 10, "timeline": 5})
    lead.refresh_from_db()
    assert (lead.score, lead.bant_authority) == (60, 25)
    assert "BANT score: 60 of 100" in sales_client.get(reverse("lead_detail", args=[lead.pk])).content.decode()


def test_lead_page_shows_timeline_earlier_leads_trade_in_and_notes(sales_client, cast):
    customer = CustomerFactory(dealer=cast.dealer_a, first_name="Fleur", last_name="Jansen")
    earlier = lead_for(cast.sales_a2, cast.dealer_a, customer=customer, received_at=timezone.now() - dt.timedelta(days=90),
                       status=Status.LOST, closed_at=timezone.now() - dt.timedelta(days=60))
    lead = lead_for(cast.sales_a1, cast.dealer_a, customer=customer, returning_customer=True,
                    vehicle={"make": "Hyundai", "model": "Tucson", "price": 32950, "mileage_km": 18000},
                    trade_in={"make": "Kia", "model": "Picanto", "year": 2015, "mileage_km": 98000})
    attempt_log(lead=lead, by=cast.sales_a1, channel="call", outcome="busy")
    sales_client.post(reverse("lead_note", args=[lead.pk]), {"text": "Belt terug na 17:00"})

    html = sales_client.get(reverse("lead_detail", args=[lead.pk])).content.decode()

    assert "Picanto" in html and "98,000 km" in html and "€ 32,950" in html
    assert "Call · Busy" in html
    assert "<q>Belt terug na 17:00</q>" in html
    assert "Lost" in html and reverse("lead_detail", args=[earlier.pk]) not in html  # listed, but not a colleague's link
    assert LeadEvent.objects.unscoped().filter(lead=lead, type=EventType.NOTE, actor=cast.sales_a1).exists()


def test_the_timeline_says_in_one_entry_which_queue_and_which_kind(sales_client, cast):
    """Routing writes one entry (queue and kind); leads routed before that still show their separate classification."""
    from routing.services import lead_route

    lead = lead_route(lead=LeadFactory(dealer=cast.dealer_a, channel="web_form", routed_at=None, kind="", queue="",
                                       assignee=None))
    LeadEvent.objects.create(dealer=cast.dealer_a, lead=lead, type=EventType.CLASSIFIED, text="passive")
    Lead.objects.for_dealer(cast.dealer_a).filter(pk=lead.pk).update(assignee=cast.sales_a1)  # this client's lead

    html = sales_client.get(reverse("lead_detail", args=[lead.pk]), HTTP_ACCEPT_LANGUAGE="nl").content.decode()

    assert list(lead.events.filter(type=EventType.ROUTED).values_list("text", "data__kind")) == [("sales", "active")]
    assert "Verkoop · Actief" in html
    assert "Passief" in html  # the older entry's own line


def test_dutch_dates_in_amsterdam_time(sales_client, cast):
    received = dt.datetime(2025, 6, 3, 12, 5, tzinfo=dt.UTC)  # 14:05 in Amsterdam (summer time)
    lead = lead_for(cast.sales_a1, cast.dealer_a, received_at=received)
    html = sales_client.get(reverse("lead_detail", args=[lead.pk]), HTTP_ACCEPT_LANGUAGE="nl").content.decode()
    assert 'lang="nl"' in html
    assert "3 juni 2025 14:05" in html  # one Dutch style: the month in words, lower case
    assert "Juni" not in html


# ---------------------------------------------------------------------------------------------- e-mail through the product

# These run without a wrapping test transaction, as a real request does: the mail goes out when the view's writes commit.
@pytest.mark.django_db(transaction=True)
def test_an_email_sent_through_the_product_is_a_verified_attempt(sales_client, cast):
    customer = CustomerFactory(dealer=cast.dealer_a, first_name="Piet", last_name="Visser", email="piet@example.nl")
    lead = lead_for(cast.sales_a1, cast.dealer_a, customer=customer)

    response = sales_client.post(reverse("lead_email", args=[lead.pk]),
                                 {"subject": "Uw aanvraag", "body": "Beste Piet, wanneer kan ik u bellen?"}, follow=True)

    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["piet@example.nl"]
    attempt = ContactAttempt.objects.unscoped().get(lead=lead)
    assert (attempt.channel, attempt.outcome, attempt.verified) == ("email", "sent", True)
    assert attempt.external_ref.startswith("mail:<")
    assert "logged as a verified attempt" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_failed_email_records_no_attempt(sales_client, cast, settings):
    settings.EMAIL_BACKEND = "tests.followup.test_pages.BrokenMailBackend"
    lead = lead_for(cast.sales_a1, cast.dealer_a)

    response = sales_client.post(reverse("lead_email", args=[lead.pk]), {"subject": "Uw aanvraag", "body": "Hallo"},
                                 follow=True)

    assert not ContactAttempt.objects.unscoped().filter(lead=lead).exists()
    assert "could not be sent, so no attempt was logged" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_mail_waits_for_the_surrounding_transaction(cast):
    lead = lead_for(cast.sales_a1, cast.dealer_a)
    with transaction.atomic():
        delivery = customer_email_send(lead=lead, by=cast.sales_a1, subject="Uw aanvraag", body="Hallo")
        assert mail.outbox == [] and delivery.sent is None  # nothing slow inside the transaction
    assert delivery.sent is True and len(mail.outbox) == 1
    assert delivery.attempt.verified and delivery.attempt.lead_id == lead.pk


def test_no_email_address_means_no_email_form(sales_client, cast):
    customer = CustomerFactory(dealer=cast.dealer_a, email="")
    lead = lead_for(cast.sales_a1, cast.dealer_a, customer=customer, data_flags=["no_email"])
    response = sales_client.post(reverse("lead_email", args=[lead.pk]), {"subject": "x", "body": "y"}, follow=True)
    assert "has no e-mail address" in response.content.decode()
    assert not mail.outbox


# ---------------------------------------------------------------------------------------------- new leads and notices

def test_the_feed_returns_leads_assigned_to_me_since_the_last_poll(sales_client, cast):
    since = timezone.now()
    mine = lead_for(cast.sales_a1, cast.dealer_a, first_name="Nieuw")
    theirs = lead_for(cast.sales_a2, cast.dealer_a, first_name="Ander")
    for lead in (mine, theirs):
        Notification.objects.create(dealer=cast.dealer_a, recipient=lead.assignee, lead=lead, kind=NotificationKind.ASSIGNED,
                                    subject=f"New lead: {lead.customer}", body="Bel binnen 5 minuten")

    data = sales_client.get(reverse("inbox_feed"), {"since": since.isoformat()}).json()

    assert [lead["id"] for lead in data["leads"]] == [str(mine.pk)]
    assert "Nieuw" in data["leads"][0]["html"] and 'href="tel:' in data["leads"][0]["html"]
    assert data["notices"][0]["title"].startswith("New lead: Nieuw")
    assert data["unread"] == 1
    later = sales_client.get(reverse("inbox_feed"), {"since": (timezone.now() + dt.timedelta(minutes=5)).isoformat()}).json()
    assert later["leads"] == []


def test_the_feed_skips_leads_the_page_has_and_costs_little_when_nothing_is_new(sales_client, cast,
                                                                                django_assert_max_num_queries):
    since = timezone.now()
    first, second = (lead_for(cast.sales_a1, cast.dealer_a, first_name=name) for name in ("Eerste", "Tweede"))
    for lead in (first, second):
        Notification.objects.create(dealer=cast.dealer_a, recipient=cast.sales_a1, lead=lead, kind=NotificationKind.ASSIGNED,
                                    subject=f"New lead: {lead.customer}", body="")
    data = sales_client.get(reverse("inbox_feed"), {"since": since.isoformat(), "have": f"{first.pk},not-a-uuid,"}).json()
    assert [lead["id"] for lead in data["leads"]] == [str(second.pk)]  # the first is on the page already
    assert (data["unread"], data["unread_label"]) == (2, "2 unread notices")
    with django_assert_max_num_queries(7):  # five resolve who is asking (session, user, access); then notices and unread
        quiet = sales_client.get(reverse("inbox_feed"), {"since": data["now"], "have": f"{first.pk},{second.pk}"}).json()
    assert quiet["leads"] == [] and quiet["unread"] == 2


def test_the_title_and_the_bell_carry_the_unread_count(sales_client, cast):
    html = sales_client.get(reverse("inbox")).content.decode()
    assert "<title>My leads" in html and 'id="notice-bell"' in html and "hidden>" in html.split('id="notice-bell"')[1][:300]
    Notification.objects.create(dealer=cast.dealer_a, recipient=cast.sales_a1, kind=NotificationKind.DIGEST,
                                subject="Your day", body="")
    html = sales_client.get(reverse("inbox")).content.decode()
    assert "<title>(1) My leads" in html


def test_the_service_worker_is_served_at_the_root_with_versioned_caches(client):
    response = client.get("/sw.js")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/javascript")
    assert response["Service-Worker-Allowed"] == "/"
    body = response.content.decode()
    assert "__VERSION__" not in body and 'var VERSION = "' in body
    assert '"/static/css/app.css"' in body and "showNotification" in body and "notificationclick" in body
    assert client.post("/sw.js").status_code == 405


def test_unread_notices_show_and_are_marked_read(sales_client, cast):
    lead = lead_for(cast.sales_a1, cast.dealer_a, first_name="Melding")
    Notification.objects.create(dealer=cast.dealer_a, recipient=cast.sales_a1, lead=lead, kind=NotificationKind.ASSIGNED,
                                subject="New lead: Melding de Vries", body="")
    other = Notification.objects.create(dealer=cast.dealer_a, recipient=cast.sales_a1, kind=NotificationKind.DIGEST,
                                        subject="Your day", body="")

    html = sales_client.get(reverse("inbox")).content.decode()
    assert "New lead: Melding de Vries" in html and "2 unread notices" in html

    sales_client.get(reverse("lead_detail", args=[lead.pk]))  # opening the lead reads its notice
    assert Notification.objects.unscoped().filter(read_at__isnull=True).get() == other
    sales_client.post(reverse("notices_read"), {"next": reverse("inbox")})
    assert not Notification.objects.unscoped().filter(read_at__isnull=True).exists()


def test_policy_spacing_is_explained_on_the_timeline(sales_client, cast):
    FollowUpPolicy.objects.update_or_create(dealer=cast.dealer_a, defaults={"attempt_spacing_minutes": 60})
    lead = lead_for(cast.sales_a1, cast.dealer_a)
    attempt_log(lead=lead, by=cast.sales_a1, channel="call", outcome="no_answer")
    attempt_log(lead=lead, by=cast.sales_a1, channel="call", outcome="no_answer")
    html = sales_client.get(reverse("lead_detail", args=[lead.pk])).content.decode()
    assert "does not count toward the minimum (too soon after the previous attempt)" in html
    assert "1 of the minimum 4 attempts counted (2 logged)." in html


def test_vehicle_codes_are_said_in_words():
    from django.utils import translation

    from followup.presenters import vehicle_facts

    with translation.override("nl"):
        facts = {label: value for label, value, _link in vehicle_facts({"interest": "buy", "status": "new", "make": "Kia"})}
    assert facts["Interesse"] == "kopen" and facts["Nieuw of occasion"] == "nieuw" and facts["Merk"] == "Kia"


def test_the_whatsapp_text_greets_by_first_name_as_a_message_does(cast):
    from django.utils import translation

    from followup.messaging import customer_template

    lead = lead_for(cast.sales_a1, cast.dealer_a, first_name="Sanne", last_name="Bakker", vehicle={})
    lead.contact_language = "nl"  # the language given in this lead
    with translation.override("nl"):
        short = customer_template(lead=lead, sender=cast.sales_a1).short
    assert short.startswith("Hallo Sanne, hier is ") and "Bakker" not in short and "u spreekt met" not in short


def test_a_notice_id_that_is_no_number_is_refused_not_a_500(sales_client, cast):
    from leads.models import Notification

    Notification.objects.create(dealer=cast.dealer_a, recipient=cast.sales_a1, kind="assigned", subject="s", body="b")
    for raw in ("²", "9" * 40, "1e3"):
        assert sales_client.post(reverse("notices_read"), {"notification": raw}).status_code == 400, raw
    assert Notification.objects.unscoped().get().read_at is None  # a bad id never means "all of them"
