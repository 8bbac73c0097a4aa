"""Customers' appointments: a confirmation with an invite, an update when moved, a cancellation when closed, a
reminder the day before (once), and the day view where the show is recorded."""

import datetime as dt
import zoneinfo

import pytest
import time_machine
from django.core import mail
from django.utils import timezone
from icalendar import Calendar

from followup.appointment_mail import appointment_reminders_queue, customer_messages_send
from followup.models import CustomerMessage
from followup.services import appointment_move, appointment_set, lead_close
from tests.factories import CustomerFactory, LeadFactory

pytestmark = pytest.mark.django_db
AMSTERDAM = zoneinfo.ZoneInfo("Europe/Amsterdam")


@pytest.fixture
def lead(cast):
    customer = CustomerFactory(dealer=cast.dealer_a, first_name="Sanne", last_name="Bakker", email="sanne@example.nl",
                               language="nl")
    return LeadFactory(dealer=cast.dealer_a, customer=customer, assignee=cast.sales_a1,
                       vehicle={"make": "Kia", "model": "Niro", "year": 2024})


def _sent_invite(index=-1) -> tuple:
    message = mail.outbox[index]
    [(name, content, mimetype)] = message.attachments
    return message, Calendar.from_ical(content), mimetype


def test_booking_mails_the_customer_an_invite_in_the_dealers_time_zone(cast, lead, django_capture_on_commit_callbacks):
    when = dt.datetime(2026, 12, 10, 14, 30, tzinfo=AMSTERDAM)
    with django_capture_on_commit_callbacks(execute=True):
        appointment = appointment_set(lead=lead, by=cast.sales_a1, scheduled_at=when, kind="test_drive")
    assert customer_messages_send() == 1
    message, calendar, mimetype = _sent_invite()
    assert message.to == ["sanne@example.nl"] and "method=REQUEST" in mimetype
    assert message.subject == "Uw afspraak bij Autobedrijf A op donderdag 10 december 2026, 14:30"
    [event] = calendar.walk("VEVENT")
    assert event.decoded("dtstart") == when and event.decoded("dtstart").tzinfo.key == "Europe/Amsterdam"
    assert event.decoded("dtend") - event.decoded("dtstart") == dt.timedelta(hours=1)  # a test drive
    assert "Kia Niro 2024" in str(event["summary"]) and str(event["location"]) == "Autobedrijf A"
    assert str(event["organizer"]) == f"mailto:{cast.sales_a1.email}" and int(event["sequence"]) == 0
    assert calendar.walk("VTIMEZONE")  # the zone travels with the invite
    assert CustomerMessage.objects.for_dealer(cast.dealer_a).get(appointment=appointment).status == "sent"


def test_moving_sends_an_update_of_the_same_event_and_closing_cancels_it(cast, lead, django_capture_on_commit_callbacks):
    start = (timezone.now() + dt.timedelta(days=3)).replace(second=0, microsecond=0)
    appointment = appointment_set(lead=lead, by=cast.sales_a1, scheduled_at=start, kind="showroom")
    appointment_move(appointment=appointment, by=cast.sales_a1, scheduled_at=start + dt.timedelta(hours=2))
    lead_close(lead=lead, by=cast.sales_a1, outcome="not_interested", reason="Toch niet")
    customer_messages_send()
    calendars = [Calendar.from_ical(m.attachments[0][1]) for m in mail.outbox]
    events = [c.walk("VEVENT")[0] for c in calendars]
    assert len({str(e["uid"]) for e in events}) == 1
    assert [int(e["sequence"]) for e in events] == [0, 1, 2]
    assert [str(c["method"]) for c in calendars] == ["REQUEST", "REQUEST", "CANCEL"]
    assert events[1].decoded("dtstart") == start + dt.timedelta(hours=2)


def test_the_reminder_goes_once_the_day_before_from_nine(cast, lead):
    tomorrow_afternoon = dt.datetime(2026, 12, 11, 15, 0, tzinfo=AMSTERDAM)
    with time_machine.travel(dt.datetime(2026, 12, 9, 12, 0, tzinfo=AMSTERDAM)):
        appointment_set(lead=lead, by=cast.sales_a1, scheduled_at=tomorrow_afternoon, kind="showroom")
    with time_machine.travel(dt.datetime(2026, 12, 10, 1, 0, tzinfo=AMSTERDAM)):
        assert appointment_reminders_queue() == 0  # not at night
    with time_machine.travel(dt.datetime(2026, 12, 10, 9, 5, tzinfo=AMSTERDAM)):
        assert appointment_reminders_queue() == 1
        assert appointment_reminders_queue() == 0  # a second run sends nothing twice
    kinds = list(CustomerMessage.objects.for_dealer(cast.dealer_a).values_list("kind", flat=True).order_by("pk"))
    assert kinds == ["confirmation", "reminder"]


def test_a_customer_without_an_email_address_gets_no_mail_and_booking_still_works(cast):
    lead = LeadFactory(dealer=cast.dealer_a, customer=CustomerFactory(dealer=cast.dealer_a, email=""), assignee=cast.sales_a1)
    appointment_set(lead=lead, by=cast.sales_a1, scheduled_at=timezone.now() + dt.timedelta(days=1), kind="call")
    assert not CustomerMessage.objects.for_dealer(cast.dealer_a).exists()


def test_a_mail_server_outage_keeps_the_message_for_the_next_run(cast, lead, settings):
    appointment_set(lead=lead, by=cast.sales_a1, scheduled_at=timezone.now() + dt.timedelta(days=1), kind="showroom")
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 1  # nothing listens there
    customer_messages_send()
    message = CustomerMessage.objects.for_dealer(cast.dealer_a).get()
    assert message.status == "pending" and message.error
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    customer_messages_send()
    message.refresh_from_db()
    assert message.status == "sent" and len(mail.outbox) == 1


def test_the_day_view_lists_todays_appointments_and_records_the_show(cast, lead, client):
    now = timezone.now()
    appointment = appointment_set(lead=lead, by=cast.sales_a1, scheduled_at=now - dt.timedelta(minutes=30), kind="showroom")
    other = LeadFactory(dealer=cast.dealer_a, assignee=cast.sales_a2)
    appointment_set(lead=other, by=cast.sales_a2, scheduled_at=now - dt.timedelta(minutes=20), kind="showroom")
    client.force_login(cast.sales_a1)
    html = client.get("/appointments/").content.decode()
    assert "Sanne Bakker" in html and str(other.customer) not in html  # mine only
    response = client.post(f"/leads/{lead.pk}/appointments/{appointment.pk}/outcome/",
                           {"showed": "yes", "next": "/appointments/"})
    assert response.status_code == 302 and response["Location"] == "/appointments/"
    appointment.refresh_from_db()
    assert appointment.showed is True
    client.force_login(cast.manager_a)
    assert str(other.customer) in client.get("/appointments/").content.decode()  # the manager sees the dealer's day


def test_the_day_view_costs_the_same_queries_for_few_and_many(cast, client, django_assert_max_num_queries):
    client.force_login(cast.manager_a)
    for _ in range(12):
        lead = LeadFactory(dealer=cast.dealer_a, assignee=cast.sales_a1)
        appointment_set(lead=lead, by=cast.sales_a1, scheduled_at=timezone.now(), kind="showroom")
    with django_assert_max_num_queries(12):
        assert client.get("/appointments/?day=nonsense").status_code == 200
