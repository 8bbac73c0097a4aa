"""The telephony webhook: signed call events become verified attempts on the right lead, exactly once."""

import datetime as dt
import json
import time

import pytest
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dealers.models import AuditEntry
from followup.models import ContactAttempt, TelephonyEndpoint, TelephonyEvent
from followup.telephony import signature_compute, telephony_endpoint_create
from leads.models import EventType, Status
from tests.conftest import team_client
from tests.factories import CustomerFactory, LeadFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/telephony/events/"
CUSTOMER_PHONE = "+31612345678"


@pytest.fixture
def endpoint_a(cast):
    return telephony_endpoint_create(dealer=cast.dealer_a)


@pytest.fixture
def lead_a(cast):
    customer = CustomerFactory(dealer=cast.dealer_a, first_name="Jan", last_name="de Vries", phone=CUSTOMER_PHONE)
    return LeadFactory(dealer=cast.dealer_a, customer=customer, assignee=cast.sales_a1,
                       received_at=timezone.now() - dt.timedelta(hours=1))


def event(**overrides) -> dict:
    body = {
        "event_id": "evt-1001", "call_id": "call-77", "type": "ended", "direction": "outbound",
        "caller": "+31 20 123 4567", "callee": "06-12345678",
        "started_at": (timezone.now() - dt.timedelta(minutes=4)).isoformat(),
        "duration_seconds": 179, "recording_url": "https://opnames.bellen.nl/r/77.mp3",
    }
    body.update(overrides)
    return body


def post(endpoint, body, *, secret=None, timestamp=None, signature=None, endpoint_id=None, client=None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    ts = str(int(time.time())) if timestamp is None else str(timestamp)
    headers = {
        "HTTP_X_OPVOLGER_ENDPOINT": endpoint.public_id if endpoint_id is None else endpoint_id,
        "HTTP_X_OPVOLGER_TIMESTAMP": ts,
    }
    sig = signature if signature is not None else signature_compute(secret=secret or endpoint.secret, timestamp=ts, body=raw)
    if sig != "":
        headers["HTTP_X_OPVOLGER_SIGNATURE"] = sig
    return (client or Client()).post(URL, data=raw, content_type="application/json", **headers)


# ---------------------------------------------------------------------------------------------- signatures

def test_a_signed_answered_call_is_a_verified_connected_attempt(endpoint_a, lead_a):
    started = timezone.now() - dt.timedelta(minutes=4)
    response = post(endpoint_a, event(started_at=started.isoformat()))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["matched"] is True and body["lead_id"] == str(lead_a.pk) and body["duplicate"] is False
    attempt = ContactAttempt.objects.unscoped().get(pk=body["attempt_id"])
    assert (attempt.lead_id, attempt.channel, attempt.outcome) == (lead_a.pk, "call", "connected")
    assert attempt.verified is True and attempt.duration_seconds == 179
    assert abs(attempt.at - started) < dt.timedelta(seconds=1)  # the call's time, not the webhook's
    assert attempt.note == "https://opnames.bellen.nl/r/77.mp3"
    lead_a.refresh_from_db()
    assert lead_a.status == Status.CONTACTED and lead_a.attempt_count == 1 and lead_a.first_connected_at is not None
    assert lead_a.verified_attempts == 1  # the reports count it as proven
    assert lead_a.events.filter(type=EventType.ATTEMPT, data__verified=True).count() == 1


@pytest.mark.parametrize("tamper", ["wrong secret", "body changed", "missing signature", "no sha256= prefix"])
def test_a_bad_or_missing_signature_is_401_and_changes_nothing(endpoint_a, lead_a, tamper):
    raw = json.dumps(event()).encode()
    ts = str(int(time.time()))
    good = signature_compute(secret=endpoint_a.secret, timestamp=ts, body=raw)
    if tamper == "wrong secret":
        response = post(endpoint_a, raw, timestamp=ts, secret="whsec_geraden")
    elif tamper == "body changed":
        response = post(endpoint_a, raw.replace(b"179", b"999"), timestamp=ts, signature=good)
    elif tamper == "missing signature":
        response = post(endpoint_a, raw, timestamp=ts, signature="")
    else:
        response = post(endpoint_a, raw, timestamp=ts, signature=good.removeprefix("sha256="))
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 401
    assert not TelephonyEvent.objects.unscoped().exists() and not ContactAttempt.objects.unscoped().exists()


def test_an_unknown_or_missing_endpoint_is_401(endpoint_a, lead_a):
    assert post(endpoint_a, event(), endpoint_id="tel_bestaatniet").status_code == 401
    assert post(endpoint_a, event(), endpoint_id="").status_code == 401
    assert not ContactAttempt.objects.unscoped().exists()


@pytest.mark.parametrize("age_seconds", [6 * 60, -6 * 60])
def test_a_stale_or_future_timestamp_is_refused_even_when_correctly_signed(endpoint_a, lead_a, age_seconds):
    response = post(endpoint_a, event(), timestamp=int(time.time()) - age_seconds)
    assert response.status_code == 401
    assert "five minutes" in response.json()["detail"]
    assert not ContactAttempt.objects.unscoped().exists()


def test_a_malformed_timestamp_is_401(endpoint_a, lead_a):
    assert post(endpoint_a, event(), timestamp="gisteren").status_code == 401


# ---------------------------------------------------------------------------------------------- replays and one call

def test_a_replayed_event_changes_nothing(endpoint_a, lead_a):
    first = post(endpoint_a, event())
    again = post(endpoint_a, event())  # the same event, freshly signed: a provider's retry or an attacker's replay
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["duplicate"] is True and again.json()["attempt_id"] == first.json()["attempt_id"]
    assert ContactAttempt.objects.unscoped().count() == 1 and TelephonyEvent.objects.unscoped().count() == 1
    lead_a.refresh_from_db()
    assert lead_a.attempt_count == 1


def test_one_call_is_one_attempt_however_many_events(endpoint_a, lead_a):
    started = (timezone.now() - dt.timedelta(minutes=5)).isoformat()
    common = {"call_id": "call-88", "started_at": started}
    post(endpoint_a, event(event_id="e1", type="started", duration_seconds=None, recording_url="", **common))
    assert not ContactAttempt.objects.unscoped().exists()  # a call that only started proves nothing yet
    answered = post(endpoint_a, event(event_id="e2", type="answered", duration_seconds=None, recording_url="", **common))
    ended = post(endpoint_a, event(event_id="e3", type="ended", duration_seconds=212, **common))
    assert answered.status_code == ended.status_code == 201
    attempt = ContactAttempt.objects.unscoped().get()
    assert attempt.outcome == "connected" and attempt.duration_seconds == 212 and attempt.external_ref == "call:call-88"
    assert attempt.note.endswith("77.mp3")
    assert TelephonyEvent.objects.unscoped().filter(attempt=attempt).count() == 2
    lead_a.refresh_from_db()
    assert lead_a.attempt_count == 1


def test_an_unanswered_outbound_call_is_a_no_answer_attempt(endpoint_a, lead_a):
    response = post(endpoint_a, event(duration_seconds=0, recording_url=""))
    assert response.json()["outcome"] == "no_answer"
    lead_a.refresh_from_db()
    assert lead_a.status == Status.ATTEMPTED and lead_a.first_connected_at is None


def test_a_missed_call_from_the_customer_is_no_attempt_but_shows_on_the_timeline(endpoint_a, lead_a):
    response = post(endpoint_a, event(direction="inbound", caller="0612345678", callee="+31201234567",
                                      duration_seconds=0, recording_url=""))
    assert response.status_code == 201 and response.json()["attempt_id"] is None
    assert not ContactAttempt.objects.unscoped().exists()
    assert lead_a.events.filter(type=EventType.NOTE, text__contains="Missed call").exists()


def test_an_answered_call_from_the_customer_counts_as_contact(endpoint_a, lead_a):
    response = post(endpoint_a, event(direction="inbound", caller="+31612345678", callee="+31201234567"))
    assert response.json()["outcome"] == "connected"


def test_the_employee_on_the_call_is_credited(cast, endpoint_a, lead_a):
    response = post(endpoint_a, event(agent_email="SALES2@a.test"))
    assert ContactAttempt.objects.unscoped().get(pk=response.json()["attempt_id"]).user == cast.sales_a2


def test_the_employee_is_found_by_their_phone(cast, endpoint_a, lead_a):
    cast.sales_a1.phone = "020-1234567"
    cast.sales_a1.save()
    response = post(endpoint_a, event(caller="+31201234567"))
    assert ContactAttempt.objects.unscoped().get(pk=response.json()["attempt_id"]).user == cast.sales_a1


# ---------------------------------------------------------------------------------------------- matching

def test_the_call_goes_to_the_open_lead_most_recently_received_before_it(cast, endpoint_a):
    now = timezone.now()
    customer = CustomerFactory(dealer=cast.dealer_a, phone=CUSTOMER_PHONE)
    older = LeadFactory(dealer=cast.dealer_a, customer=customer, received_at=now - dt.timedelta(days=3))
    expected = LeadFactory(dealer=cast.dealer_a, customer=customer, received_at=now - dt.timedelta(hours=2))
    LeadFactory(dealer=cast.dealer_a, customer=customer, received_at=now - dt.timedelta(minutes=30),
                status=Status.SOLD, closed_at=now - dt.timedelta(minutes=20))  # closed: not followed up any more
    LeadFactory(dealer=cast.dealer_a, customer=customer, received_at=now - dt.timedelta(minutes=1))  # after the call
    other = LeadFactory(dealer=cast.dealer_a, received_at=now - dt.timedelta(minutes=50))  # another customer
    response = post(endpoint_a, event(started_at=(now - dt.timedelta(minutes=10)).isoformat(), callee="06-12345678"))
    assert response.json()["lead_id"] == str(expected.pk)
    assert not older.attempts.exists() and not other.attempts.exists()


def test_an_unknown_number_is_stored_and_answered_202(endpoint_a, lead_a):
    response = post(endpoint_a, event(callee="06-98765432", caller="+31201234567"))
    assert response.status_code == 202
    assert response.json() == {"event_id": "evt-1001", "matched": False, "lead_id": None, "attempt_id": None,
                               "outcome": None, "duplicate": False}
    stored = TelephonyEvent.objects.unscoped().get()
    assert stored.lead is None and stored.payload["callee"] == "06-98765432"
    assert not ContactAttempt.objects.unscoped().exists()


def test_another_dealers_endpoint_cannot_touch_dealer_a(cast, endpoint_a, lead_a):
    endpoint_b = telephony_endpoint_create(dealer=cast.dealer_b)
    response = post(endpoint_b, event())  # B's endpoint and secret, A's customer's number
    assert response.status_code == 202 and response.json()["matched"] is False
    assert TelephonyEvent.objects.unscoped().get().dealer == cast.dealer_b
    # A's endpoint id signed with B's secret
    assert post(endpoint_a, event(event_id="evt-2"), secret=endpoint_b.secret).status_code == 401
    assert not ContactAttempt.objects.unscoped().exists()
    # The same event id at dealer A is A's own event, not a replay of B's.
    assert post(endpoint_a, event()).status_code == 201


# ---------------------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("raw", [
    b"{nope", b"[1, 2]", b"\xff\xfe", b'{"event_id": "a\\u0000b"}', b'{"duration_seconds": NaN}',
    json.dumps(event(type="hung_up")).encode(), json.dumps(event(started_at="gisteren")).encode(),
    json.dumps(event(caller="", callee="")).encode(), json.dumps(event(recording_url="javascript:alert(1)")).encode(),
    json.dumps(event(duration_seconds=-5)).encode(), json.dumps(event(event_id="x" * 300)).encode(),
    b"[" * 5000 + b"]" * 5000,
    json.dumps(event()).encode().replace(b"{", b'{"vendor_note": "\\ud800x", ', 1),  # a lone surrogate it would store
])
def test_a_malformed_body_is_400_with_a_problem(endpoint_a, lead_a, raw):
    response = post(endpoint_a, raw)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert not TelephonyEvent.objects.unscoped().exists()


def test_a_huge_body_is_413(endpoint_a):
    assert post(endpoint_a, b"{" + b" " * 70_000 + b"}").status_code == 413


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                    max_leaves=12)
FIELDS = st.fixed_dictionaries({}, optional={
    "event_id": st.text(max_size=220) | JSON, "call_id": st.text(max_size=160) | JSON,
    "type": st.sampled_from(["started", "answered", "ended", "x"]) | JSON,
    "direction": st.sampled_from(["inbound", "outbound"]) | JSON,
    "caller": st.text(max_size=70) | st.just("06-12345678") | JSON, "callee": st.text(max_size=70) | JSON,
    "started_at": st.datetimes(timezones=st.just(dt.UTC)).map(dt.datetime.isoformat) | st.text(max_size=30) | JSON,
    "duration_seconds": st.integers() | JSON, "answered": JSON, "recording_url": st.text(max_size=40) | JSON,
    "agent_email": st.emails() | JSON,
})


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=FIELDS | JSON)
def test_no_signed_body_yields_a_server_error(endpoint_a, lead_a, body):
    response = post(endpoint_a, body)
    assert response.status_code < 500, response.content


# ---------------------------------------------------------------------------------------------- docs and settings page

def test_the_webhook_is_in_the_openapi_schema(cast):
    schema = team_client(cast.manager_a).get("/api/v1/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/telephony/events/"]["post"]
    assert operation["tags"] == ["telephony"]
    assert {p["name"] for p in operation["parameters"]} >= {"X-Opvolger-Endpoint", "X-Opvolger-Timestamp",
                                                            "X-Opvolger-Signature"}


def test_a_manager_creates_and_rotates_the_secret(client, cast):
    client.force_login(cast.manager_a)
    page = client.get("/settings/telephony/")
    assert page.status_code == 200 and b"No telephony endpoint yet" in page.content
    client.post("/settings/telephony/", {"action": "create"})
    endpoint = TelephonyEndpoint.objects.unscoped().get(dealer=cast.dealer_a)
    page = client.get("/settings/telephony/")
    assert endpoint.public_id.encode() in page.content and endpoint.secret.encode() in page.content
    old_secret = endpoint.secret
    customer = CustomerFactory(dealer=cast.dealer_a, phone=CUSTOMER_PHONE)
    LeadFactory(dealer=cast.dealer_a, customer=customer, received_at=timezone.now() - dt.timedelta(hours=1))
    client.post("/settings/telephony/", {"action": "rotate"})
    endpoint.refresh_from_db()
    assert endpoint.secret != old_secret and endpoint.rotated_at is not None
    assert post(endpoint, event(), secret=old_secret).status_code == 401
    assert post(endpoint, event()).status_code == 201
    assert AuditEntry.objects.for_dealer(cast.dealer_a).filter(action="telephony.secret_rotated", actor=cast.manager_a).exists()


@pytest.mark.parametrize("who", ["sales_a1", "bdc_a"])
def test_only_managers_see_the_telephony_settings(client, cast, who):
    client.force_login(getattr(cast, who))
    assert client.get("/settings/telephony/").status_code == 403
    assert client.post("/settings/telephony/", {"action": "create"}).status_code == 403
    assert not TelephonyEndpoint.objects.unscoped().exists()


def test_an_outsider_cannot_open_or_rotate_dealer_as_telephony(client, cast, endpoint_a):
    client.force_login(cast.outsider_b)
    assert client.get("/settings/telephony/?dealer=dealer-a").status_code == 404
    assert client.post("/settings/telephony/?dealer=dealer-a", {"action": "rotate"}).status_code == 404
    page = client.get("/settings/telephony/")  # their own dealer B: nothing of A's
    assert endpoint_a.secret.encode() not in page.content and endpoint_a.public_id.encode() not in page.content
    assert TelephonyEndpoint.objects.unscoped().get(dealer=cast.dealer_a).secret == endpoint_a.secret


def _events(dealer, n, start=0):
    now = timezone.now()
    for i in range(start, start + n):
        lead = LeadFactory(dealer=dealer)
        TelephonyEvent.objects.create(dealer=dealer, event_id=f"e{i}-{dealer.pk}", call_id=f"c{i}", type="ended",
                                      call_started_at=now, lead=lead,
                                      attempt=ContactAttempt.objects.create(dealer=dealer, lead=lead, channel="call",
                                                                            outcome="connected", verified=True))


def test_the_events_list_costs_the_same_queries_for_few_and_many(client, cast, endpoint_a, django_assert_num_queries):
    client.force_login(cast.manager_a)
    _events(cast.dealer_a, 2)
    client.get("/settings/telephony/")  # warm the session
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert client.get("/settings/telephony/").status_code == 200
    _events(cast.dealer_a, 15, start=2)
    with django_assert_num_queries(len(few.captured_queries)):
        page = client.get("/settings/telephony/")
    assert page.content.count(b"<tr>") == 1 + 17


def test_a_call_with_the_number_given_in_the_lead_finds_it_when_the_customer_record_has_another(cast, endpoint_a):
    """Marieke called from her own mobile; her lead was filed under Jan's record, which has only the landline."""
    jan = CustomerFactory(dealer=cast.dealer_a, first_name="Jan", phone="+31201234567")
    maries = LeadFactory(dealer=cast.dealer_a, customer=jan, assignee=cast.sales_a1, contact_first_name="Marieke",
                         contact_phone=CUSTOMER_PHONE, received_at=timezone.now() - dt.timedelta(hours=1))
    response = post(endpoint_a, event(direction="inbound", caller="06 12345678", callee="+31207654321"))
    assert response.json()["lead_id"] == str(maries.pk)
