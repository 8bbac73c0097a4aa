"""Web Push end to end without the internet: the outbox pushes to a push service of the tests' own on 127.0.0.1, which
verifies the VAPID JWT and decrypts the aes128gcm message with the subscriber's keys, as a phone would."""

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from py_vapid import Vapid

import leads.services
from followup.models import Appointment
from followup.services import followup_sweep
from leads.models import DeliveryStatus, Notification, NotificationKind, PushDelivery, PushStatus, PushSubscription
from leads.push import EndpointRefused, endpoint_check, vapid_public_key
from leads.services import (
    _push_claim,
    _push_fan_out,
    notification_queue,
    notify_assignee,
    outbox_flush,
    push_flush,
    push_subscription_save,
)
from routing.services import bdc_handover
from tests.conftest import team_client
from tests.factories import LeadFactory, open_all_week
from tests.push_service import running_push_service

pytestmark = pytest.mark.django_db

URL = "/api/v1/team/push-subscriptions/"


@pytest.fixture
def service():
    with running_push_service(vapid_public_key()) as running:
        yield running


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    """The tests call the flush themselves (the worker is exercised in the benchmark and test_celery_timers)."""
    monkeypatch.setattr(leads.services, "task_enqueue", lambda *args, **kwargs: None)


def device(service, user, status=201):
    sub = service.subscribe(status=status)
    keys = service.subscription_json(sub)
    push_subscription_save(user=user, endpoint=keys["endpoint"], p256dh=keys["keys"]["p256dh"], auth=keys["keys"]["auth"],
                           user_agent="Mozilla/5.0 (Linux; Android 14) Chrome/131.0 Mobile Safari/537.36")
    return sub


@pytest.fixture
def lead(cast):
    open_all_week(cast.dealer_a)
    return LeadFactory(dealer=cast.dealer_a, assignee=cast.sales_a1, customer__first_name="Anouk",
                       customer__last_name="de Boer")


def test_a_new_lead_buzzes_the_assignee_with_the_contract_message_and_no_mail(service, portal, cast):
    open_all_week(cast.dealer_a)
    phones = {cast.sales_a1.pk: device(service, cast.sales_a1), cast.sales_a2.pk: device(service, cast.sales_a2)}
    response = portal.post("/api/v1/leads/", {"customer": {"first_name": "Sanne", "last_name": "Visser",
                                                           "phone": "0612345678"}}, format="json")
    assert response.status_code == 201
    body = response.json()
    assignee = body["assigned_to"]["id"]
    outbox_flush()
    [message] = service.messages()
    assert message == {"kind": "new_lead", "lead": body["id"], "title": "New lead: Sanne Visser",
                       "body": "Sanne Visser is waiting for your call.",
                       "url": f"/leads/{body['id']}/?dealer=dealer-a"}
    assert service.messages(phones[assignee]) == [message]  # the assignee's phone, not the colleague's
    [received] = service.received
    assert received.headers["urgency"] == "high" and received.headers["topic"].startswith("notice-")
    notice = Notification.objects.unscoped().get(lead_id=body["id"])
    assert (notice.push_status, notice.email_status) == (PushStatus.SENT, DeliveryStatus.PUSHED)
    assert mail.outbox == []  # the phone buzzed: no e-mail on top
    assert PushSubscription.objects.get(endpoint=service.endpoint(phones[assignee])).last_success_at is not None
    outbox_flush()
    assert len(service.messages()) == 1  # never twice


def test_a_new_lead_for_someone_without_a_device_owes_no_push_and_its_mail_does_not_wait(
        service, portal, cast, monkeypatch, django_capture_on_commit_callbacks):
    """The round-robin reads with its pick whether the person has a device: without one the notice owes no push (no
    fan-out to wait for), and its wake-up gathers as an e-mail's does, not as a phone's alert."""
    open_all_week(cast.dealer_a)
    woken = []
    monkeypatch.setattr(leads.services, "outbox_wake", lambda push=False: woken.append(push))
    phone = device(service, cast.sales_a1)
    notices = {}
    for n in range(2):  # the round-robin gives one lead to each of the two salespeople
        with django_capture_on_commit_callbacks(execute=True):
            response = portal.post("/api/v1/leads/", {"external_id": f"D-{n}", "customer": {"phone": f"061234567{n}"}},
                                   format="json")
        assert response.status_code == 201
        notices[response.json()["assigned_to"]["id"]] = Notification.objects.unscoped().get(lead_id=response.json()["id"])
    assert {user: n.push_status for user, n in notices.items()} == {
        cast.sales_a1.pk: PushStatus.PENDING, cast.sales_a2.pk: PushStatus.SKIPPED}
    assert notices[cast.sales_a2.pk].email_status == DeliveryStatus.PENDING
    assert sorted(woken) == [False, True]
    outbox_flush()
    assert len(service.messages(phone)) == 1 and [m.to for m in mail.outbox] == [[cast.sales_a2.email]]


def test_a_handover_carries_the_bdc_note_and_the_appointment(service, lead, cast):
    lead.queue, lead.assignee = "bdc", cast.bdc_a
    lead.save()
    Appointment.objects.create(dealer=cast.dealer_a, lead=lead, scheduled_at=dt.datetime(2026, 12, 3, 13, 30, tzinfo=dt.UTC))
    device(service, cast.sales_a2)
    bdc_handover(lead=lead, agent=cast.bdc_a, salesperson=cast.sales_a2, note="Wil een proefrit in de Niro")
    outbox_flush()
    [message] = service.messages()
    assert message["kind"] == "handover" and message["title"] == "Hand-over: Anouk de Boer"
    assert "Note from the BDC: Wil een proefrit in de Niro" in message["body"]
    assert "Appointment: Showroom visit, Thursday 3 December, 14:30" in message["body"]  # the dealer's wall clock


def test_a_handover_mail_without_push_carries_the_note_the_appointment_and_the_link(lead, cast):
    lead.queue, lead.assignee = "bdc", cast.bdc_a
    lead.save()
    Appointment.objects.create(dealer=cast.dealer_a, lead=lead, scheduled_at=dt.datetime(2026, 12, 3, 13, 30, tzinfo=dt.UTC))
    bdc_handover(lead=lead, agent=cast.bdc_a, note="Belt na 17:00")  # the next salesperson by round-robin
    outbox_flush()
    [email] = mail.outbox
    assert "Note from the BDC: Belt na 17:00" in email.body and "Showroom visit, Thursday 3 December, 14:30" in email.body
    assert f"http://testserver/leads/{lead.pk}/?dealer=dealer-a" in email.body
    assert Notification.objects.unscoped().get(lead=lead).push_status == PushStatus.SKIPPED  # no device: the e-mail is the alert


def test_reminders_go_to_the_assignee_and_escalations_to_the_manager(service, lead, cast):
    salesperson, manager = device(service, cast.sales_a1), device(service, cast.manager_a)
    due = lead.deadline_at
    followup_sweep(now=due + dt.timedelta(minutes=1))  # the reminder step
    followup_sweep(now=due + dt.timedelta(minutes=16))  # the manager step
    outbox_flush()
    [reminder] = service.messages(salesperson)
    assert reminder["kind"] == "reminder" and reminder["title"] == "Reminder: Anouk de Boer is waiting"
    [escalation] = service.messages(manager)
    assert escalation["kind"] == "escalation" and escalation["title"] == "Overdue lead: Anouk de Boer"
    assert escalation["url"] == reminder["url"] == f"/leads/{lead.pk}/?dealer=dealer-a"


def test_a_stalled_lead_reassigned_by_the_sweep_is_a_new_lead_for_the_next_and_an_escalation_for_the_manager(
        service, lead, cast):
    next_one, manager = device(service, cast.sales_a2), device(service, cast.manager_a)
    followup_sweep(now=lead.deadline_at + dt.timedelta(minutes=61))  # remind, alert the manager, reassign
    outbox_flush()
    assert [(m["kind"], m["title"]) for m in service.messages(next_one)] == [("new_lead", "New lead: Anouk de Boer")]
    assert sorted(m["kind"] for m in service.messages(manager)) == ["escalation", "escalation"]  # overdue, then reassigned


@pytest.mark.parametrize("status", [404, 410])
def test_a_gone_subscription_is_deleted_and_the_mail_goes_out_instead(service, lead, cast, status):
    gone = device(service, cast.sales_a1, status=status)
    notify_assignee(lead=lead, user=cast.sales_a1, kind=NotificationKind.ASSIGNED)
    outbox_flush()
    assert service.requests == [(gone.token, status, "told to")]
    assert not PushSubscription.objects.filter(user=cast.sales_a1).exists()
    notice = Notification.objects.unscoped().get(lead=lead)
    assert notice.push_status == PushStatus.FAILED and notice.email_status == DeliveryStatus.SENT
    [email] = mail.outbox
    assert f"http://testserver/leads/{lead.pk}/?dealer=dealer-a" in email.body
    outbox_flush()
    assert len(service.requests) == 1  # never called again


def test_an_outage_is_retried_with_backoff_and_delivered_once(service, lead, cast):
    phone = device(service, cast.sales_a1, status=503)
    notify_assignee(lead=lead, user=cast.sales_a1, kind=NotificationKind.ASSIGNED)
    outbox_flush()
    delivery = PushDelivery.objects.unscoped().get()
    assert delivery.status == "pending" and delivery.attempts == 1 and delivery.due_at > timezone.now()
    outbox_flush()
    assert len(service.requests) == 1  # not before its backoff
    phone.status = 201
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=11)):
        outbox_flush()
        outbox_flush()
    assert len(service.messages()) == 1 and len(service.requests) == 2
    assert Notification.objects.unscoped().get(lead=lead).email_status == DeliveryStatus.PUSHED


def test_a_silent_push_service_does_not_cost_the_mail(service, lead, cast):
    device(service, cast.sales_a1, status=503)
    notify_assignee(lead=lead, user=cast.sales_a1, kind=NotificationKind.ASSIGNED)
    outbox_flush()
    assert mail.outbox == []  # the push may still arrive
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=2, seconds=1)):
        outbox_flush()
    assert len(mail.outbox) == 1


def test_exactly_once_across_a_worker_crash(service, lead, cast):
    device(service, cast.sales_a1)
    notify_assignee(lead=lead, user=cast.sales_a1, kind=NotificationKind.ASSIGNED)
    _push_fan_out(limit=10)
    claimed, _claimed_at = _push_claim(limit=10)  # a worker claims it ... and dies before sending
    assert len(claimed) == 1
    assert push_flush() == 0 and service.requests == []  # another worker leaves a fresh claim alone
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=5, seconds=1)):
        assert push_flush() == 1  # stale: taken back and sent
        assert push_flush() == 0
    assert len(service.messages()) == 1 and len(service.requests) == 1


# ---------------------------------------------------------------------------------------------- the allow-list

def test_the_api_refuses_a_host_outside_the_allow_list_and_nothing_is_called(service, cast):
    sub = service.subscribe()
    for endpoint in ("https://push.evil.example/push/x", "http://127.0.0.2:9/push/x", "https://127.0.0.1.nip.io/x",
                     "file:///etc/passwd", "https://user:pw@fcm.googleapis.com/x", "javascript:alert(1)"):
        body = {**service.subscription_json(sub), "endpoint": endpoint}
        response = team_client(cast.sales_a1).post(URL, body, format="json")
        assert response.status_code == 400, endpoint
        assert response["Content-Type"] == "application/problem+json" and "endpoint" in response.json()["errors"]
    assert not PushSubscription.objects.exists() and service.requests == []


def test_a_stored_endpoint_no_longer_allowed_is_never_called(service, lead, cast):
    device(service, cast.sales_a1)
    notify_assignee(lead=lead, user=cast.sales_a1, kind=NotificationKind.ASSIGNED)
    with override_settings(WEB_PUSH_ALLOWED_HOSTS=["fcm.googleapis.com"]):
        outbox_flush()
    assert service.requests == []
    assert PushDelivery.objects.unscoped().get().status == "failed" and len(mail.outbox) == 1  # refused: the e-mail instead


@override_settings(WEB_PUSH_ALLOWED_HOSTS=["localhost", "*.localhost"])
def test_an_allowed_name_that_resolves_to_a_private_address_is_refused():
    with pytest.raises(EndpointRefused, match="private address"):
        endpoint_check("https://localhost/push/x")
    with pytest.raises(EndpointRefused, match="https only"):
        endpoint_check("http://localhost/push/x")


def test_the_default_allow_list_names_the_browser_push_services():
    with override_settings(WEB_PUSH_ALLOWED_HOSTS=["fcm.googleapis.com", "*.push.apple.com"]):
        endpoint_check("https://fcm.googleapis.com/fcm/send/abc", resolve=False)
        endpoint_check("https://web.push.apple.com/QGx", resolve=False)
        for refused in ("https://push.apple.com.evil.example/x", "https://evilpush.apple.com/x", "https://push.apple.com/x"):
            with pytest.raises(EndpointRefused):
                endpoint_check(refused, resolve=False)


# ---------------------------------------------------------------------------------------------- the team API

def test_subscribe_list_and_unsubscribe_a_device(service, cast):
    sub = service.subscribe()
    client = team_client(cast.sales_a1)
    created = client.post(URL, service.subscription_json(sub), format="json",
                          HTTP_USER_AGENT="Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36")
    assert created.status_code == 201, created.content
    assert created.json()["user_agent"] == "Chrome · Android"
    again = client.post(URL, service.subscription_json(sub), format="json")  # the switch pressed twice: still one device
    assert again.status_code == 201 and again.json()["id"] == created.json()["id"]
    assert [d["id"] for d in client.get(URL).json()] == [created.json()["id"]]
    assert client.delete(f"{URL}{created.json()['id']}/").status_code == 204
    assert client.get(URL).json() == []


def test_another_dealers_user_gets_404_on_a_device_and_sees_none(service, cast):
    mine = device(service, cast.sales_a1)
    subscription = PushSubscription.objects.get(endpoint=service.endpoint(mine))
    outsider = team_client(cast.outsider_b)
    assert outsider.get(URL).json() == []
    assert outsider.delete(f"{URL}{subscription.pk}/").status_code == 404
    assert team_client(cast.sales_a2).delete(f"{URL}{subscription.pk}/").status_code == 404  # a colleague too
    assert PushSubscription.objects.filter(pk=subscription.pk).exists()


@pytest.mark.parametrize("body", [
    {}, {"endpoint": "x"}, {"endpoint": None, "keys": None}, [], "string",
    {"endpoint": "http://127.0.0.1:1/push/a", "keys": {"p256dh": "not-a-point", "auth": "AAAAAAAAAAAAAAAAAAAAAA"}},
    {"endpoint": "http://127.0.0.1:1/push/a", "keys": {"p256dh": "BAAA", "auth": "short"}},
    {"endpoint": "http://127.0.0.1:1/" + "a" * 5000, "keys": {"p256dh": "x", "auth": "y"}},
    {"endpoint": "http://127.0.0.1:99999999/push/a", "keys": {"p256dh": "x", "auth": "y"}},
    {"endpoint": "http://[::1/push", "keys": {"p256dh": "x\x00", "auth": "y"}},
])
def test_hostile_subscriptions_get_a_4xx(cast, body):
    response = team_client(cast.sales_a1).post(URL, body, format="json")
    assert 400 <= response.status_code < 500


def test_hostile_ids_get_a_4xx(cast):
    client = team_client(cast.sales_a1)
    assert client.delete(f"{URL}99999999999999999999999/").status_code == 404
    assert client.delete(f"{URL}abc/").status_code == 404
    assert client.post(URL, "{", content_type="application/json").status_code == 400


def test_listing_devices_takes_a_fixed_number_of_queries(service, cast, django_assert_max_num_queries):
    for _ in range(5):
        device(service, cast.sales_a1)
    with django_assert_max_num_queries(4):  # the access decision, then the devices: not one query per device
        assert len(team_client(cast.sales_a1).get(URL).json()) == 5


# ---------------------------------------------------------------------------------------------- e-mails and keys

def test_a_late_notice_mail_says_how_late_not_reply_before_a_past_time(lead, cast):
    lead.first_response_due_at = timezone.now() - dt.timedelta(minutes=12, seconds=5)
    lead.save()
    notify_assignee(lead=lead, user=cast.sales_a2, kind=NotificationKind.REASSIGNED)
    outbox_flush()
    [email] = mail.outbox
    assert "Respond before" not in email.body
    assert "it is 12\xa0minutes late" in email.body


def test_a_timely_notice_mail_says_how_much_time_is_left(lead, cast):
    lead.first_response_due_at = timezone.now() + dt.timedelta(minutes=4, seconds=30)
    lead.save()
    notify_assignee(lead=lead, user=cast.sales_a1, kind=NotificationKind.ASSIGNED)
    outbox_flush()
    [email] = mail.outbox
    assert "(4\xa0minutes left)" in email.body and "Open the lead: http://testserver/leads/" in email.body


def test_a_digest_is_not_pushed(service, cast):
    device(service, cast.manager_a)
    notification_queue(dealer_id=cast.dealer_a.pk, recipient=cast.manager_a, kind=NotificationKind.DIGEST,
                       subject="Digest", body="-", digest_date=timezone.localdate())
    outbox_flush()
    assert service.requests == [] and len(mail.outbox) == 1


def test_webpush_keys_prints_a_working_pair():
    out = StringIO()
    call_command("webpush_keys", stdout=out, stderr=StringIO())
    values = dict(line.split("=", 1) for line in out.getvalue().splitlines())
    assert set(values) == {"WEB_PUSH_VAPID_PRIVATE_KEY", "WEB_PUSH_VAPID_PUBLIC_KEY", "WEB_PUSH_VAPID_SUBJECT"}
    with override_settings(WEB_PUSH_VAPID_PRIVATE_KEY=values["WEB_PUSH_VAPID_PRIVATE_KEY"]):
        assert vapid_public_key() == values["WEB_PUSH_VAPID_PUBLIC_KEY"]
    claims = {"sub": "mailto:a@b.nl", "aud": "https://fcm.googleapis.com", "exp": 2_000_000_000}
    token = Vapid.from_string(values["WEB_PUSH_VAPID_PRIVATE_KEY"]).sign(claims)["Authorization"]
    assert Vapid.verify(token)
