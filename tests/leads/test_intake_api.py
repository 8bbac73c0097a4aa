"""POST /api/v1/leads/ and the read-back, rule by rule from the contract."""

import datetime as dt

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from leads.models import Customer, EventType, Lead, Notification
from leads.tasks import outbox_flush
from tests.factories import LeadFactory, MembershipFactory, api_key_for, open_all_week

pytestmark = pytest.mark.django_db

LEAD = {
    "external_id": "MP-2026-118734",
    "channel": "web_form",
    "received_at": "2026-11-22T10:04:00+01:00",
    "customer": {"first_name": "Jan", "last_name": "de Vries", "email": "Jan@Example.nl", "phone": "06 12345678",
                 "preferred_contact": "whatsapp", "language": "nl"},
    "vehicle": {"interest": "buy", "status": "used", "make": "Hyundai", "model": "Tucson", "year": 2023,
                "vin": "KMHJ381ABC", "stock_number": "A1234", "price": 32950, "currency": "EUR", "mileage_km": 18000},
    "trade_in": {"make": "Kia", "model": "Picanto", "year": 2015, "mileage_km": 98000},
    "message": "Wat kan er van de prijs af zonder inruil?",
    "consent": {"marketing": False},
    "some_future_field": {"ignored": True},
}


@pytest.fixture
def open_dealer(cast):
    open_all_week(cast.dealer_a)
    return cast.dealer_a


def post(client, body, **headers):
    return client.post("/api/v1/leads/", body, format="json", **headers)


def test_a_lead_is_stored_classified_and_assigned(portal, open_dealer, cast, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(portal, LEAD)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "new" and body["kind"] == "active" and body["queue"] == "sales"
    assert body["assigned_to"]["id"] in (cast.sales_a1.pk, cast.sales_a2.pk)
    assert body["duplicate"] is False and body["existing_customer"] is False and body["warnings"] == []
    assert body["first_response_due_at"].endswith("+01:00")  # in the dealer's time zone
    lead = Lead.objects.unscoped().get(pk=body["id"])
    assert (lead.dealer, lead.source) == (cast.dealer_a, "website")
    assert lead.customer.phone == "+31612345678" and lead.customer.phone_raw == "06 12345678"
    assert lead.customer.email == "jan@example.nl"
    assert lead.vehicle["make"] == "Hyundai" and lead.trade_in["model"] == "Picanto"
    assert lead.score > 0
    events = list(lead.events.all())
    assert [e.type for e in events] == [EventType.RECEIVED, EventType.ROUTED, EventType.ASSIGNED]
    assert events[1].text == "sales" and events[1].data["kind"] == "active"  # one entry says how it was classified
    notice = Notification.objects.unscoped().get(lead=lead)
    assert notice.recipient_id == body["assigned_to"]["id"]
    outbox_flush()  # what the worker does
    assert len(mail.outbox) == 1 and "Jan de Vries" in mail.outbox[0].subject


def test_only_customer_with_one_contact_method_is_required(portal, open_dealer):
    assert post(portal, {"customer": {"email": "x@y.nl"}}).status_code == 201
    assert post(portal, {"customer": {"phone": "0612345678"}}).status_code == 201


@pytest.mark.parametrize("body, field", [
    ({"customer": {"first_name": "Jan"}}, "customer.email"),
    ({"customer": {"email": "", "phone": "  "}}, "customer.phone"),
    ({}, "customer"),
    ({"customer": "jan@example.nl"}, "customer"),
    ({"customer": {"email": "a@b.nl"}, "channel": "fax"}, "channel"),
    ({"customer": {"email": "a@b.nl"}, "vehicle": {"year": "oud"}}, "vehicle.year"),
])
def test_a_body_without_contact_or_of_the_wrong_shape_is_400_problem(portal, open_dealer, body, field):
    response = post(portal, body)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 400 and problem["title"] and problem["type"]
    assert field in problem["errors"]
    assert Lead.objects.unscoped().count() == 0


def test_invalid_json_is_400_and_wrong_content_type_415(portal, open_dealer):
    response = portal.post("/api/v1/leads/", "{not json", content_type="application/json")
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    response = portal.post("/api/v1/leads/", "<adf/>", content_type="application/xml")
    assert response.status_code == 415


@pytest.mark.parametrize("customer, warning_fragment, flag", [
    ({"phone": "0000000000", "email": "jan@example.nl"}, "placeholder", "phone_placeholder"),
    ({"phone": "123456789"}, "placeholder", "phone_placeholder"),
    ({"email": "asdf@mailinator.com"}, "", "email_throwaway"),
    ({"email": "geen-email", "phone": "0612345678"}, "", "email_invalid"),
])
def test_odd_data_is_kept_and_flagged_never_rejected(portal, open_dealer, customer, warning_fragment, flag):
    response = post(portal, {"customer": customer})
    assert response.status_code == 201
    body = response.json()
    assert body["warnings"], "odd data must be reported"
    if warning_fragment:
        assert any(warning_fragment in w for w in body["warnings"])
    lead = Lead.objects.unscoped().get(pk=body["id"])
    assert flag in lead.data_flags
    assert lead.assignee is not None and lead.first_response_due_at is not None  # same energy as any other lead


def test_contract_example_warning_for_a_placeholder_phone(portal, open_dealer):
    body = post(portal, {"customer": {"email": "jan@example.nl", "phone": "0000000000", "first_name": "Jan"}}).json()
    assert "phone looks like a placeholder; follow up by e-mail" in body["warnings"]


def test_same_external_id_is_a_duplicate_that_creates_and_notifies_nothing(portal, open_dealer,
                                                                           django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = post(portal, LEAD)
        second = post(portal, LEAD)
    assert first.status_code == 201 and second.status_code == 200
    assert second.json() == {**first.json(), "duplicate": True}
    outbox_flush()
    assert Lead.objects.unscoped().count() == 1 and Notification.objects.unscoped().count() == 1 and len(mail.outbox) == 1
    assert Lead.objects.unscoped().get().events.filter(type=EventType.DUPLICATE).count() == 1


def test_idempotency_key_header_dedupes_without_external_id(portal, open_dealer):
    body = {"customer": {"email": "kees@example.nl"}}
    first = post(portal, body, HTTP_IDEMPOTENCY_KEY="abc-123")
    second = post(portal, body, HTTP_IDEMPOTENCY_KEY="abc-123")
    third = post(portal, body, HTTP_IDEMPOTENCY_KEY="abc-124")
    assert (first.status_code, second.status_code, third.status_code) == (201, 200, 201)
    assert second.json()["id"] == first.json()["id"] != third.json()["id"]


def test_idempotency_key_expires_after_24_hours(portal, open_dealer, time_machine):
    body = {"customer": {"email": "kees@example.nl"}}
    time_machine.move_to("2026-11-20 10:00:00+01:00")
    first = post(portal, body, HTTP_IDEMPOTENCY_KEY="abc")
    time_machine.move_to("2026-11-21 11:00:00+01:00")
    again = post(portal, body, HTTP_IDEMPOTENCY_KEY="abc")
    assert again.status_code == 201 and again.json()["id"] != first.json()["id"]


def test_same_external_id_from_another_source_is_another_lead(portal, open_dealer, cast):
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(cast.dealer_a, 'autoscout24')}")
    assert post(portal, LEAD).status_code == 201
    assert post(other, LEAD).status_code == 201
    assert Lead.objects.unscoped().count() == 2


def test_returning_customer_is_linked_and_goes_back_to_their_salesperson(portal, open_dealer):
    first = post(portal, {"customer": {"email": "anna@example.nl", "phone": "06 24681357"}}).json()
    second = post(portal, {"customer": {"phone": "+31624681357"}, "external_id": "2"}).json()
    assert second["existing_customer"] is True and first["existing_customer"] is False
    assert Lead.objects.unscoped().get(pk=second["id"]).customer_id == Lead.objects.unscoped().get(pk=first["id"]).customer_id
    assert second["assigned_to"] == first["assigned_to"]


def test_body_cannot_override_dealer_or_source(portal, open_dealer, cast):
    body = post(portal, {**LEAD, "dealer": "dealer-b", "source": "marktplaats"}).json()
    lead = Lead.objects.unscoped().get(pk=body["id"])
    assert lead.dealer == cast.dealer_a and lead.source == "website"


def test_passive_leads_go_to_the_bdc_queue_unassigned(portal, open_dealer):
    by_reason = post(portal, {"customer": {"email": "a@b.nl"}, "reason": "lease_end"}).json()
    outbound = post(portal, {"customer": {"email": "c@d.nl"}, "channel": "outbound"}).json()
    for body in (by_reason, outbound):
        assert (body["kind"], body["queue"], body["assigned_to"]) == ("passive", "bdc", None)


def test_a_non_iso_received_at_is_kept_raw_and_the_clock_runs_from_arrival(portal, open_dealer):
    body = post(portal, {"customer": {"email": "a@b.nl"}, "received_at": "gisteren 15:00"}).json()
    lead = Lead.objects.unscoped().get(pk=body["id"])
    assert lead.received_at_raw == "gisteren 15:00"
    assert abs((lead.received_at - lead.created_at).total_seconds()) < 5


def test_body_over_one_mebibyte_is_413(portal, open_dealer):
    big = {"customer": {"email": "a@b.nl"}, "message": "x" * (1024 * 1024 + 10)}
    response = post(portal, big)
    assert response.status_code == 413 and response["Content-Type"] == "application/problem+json"


def test_throttled_per_key_with_retry_after(cast, open_dealer, time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 23, 9, 0, 15, tzinfo=dt.UTC), tick=False)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(cast.dealer_a, rate_per_minute=3)}")
    statuses = [post(client, {"customer": {"email": f"p{i}@example.nl"}}).status_code for i in range(4)]
    assert statuses == [201, 201, 201, 429]
    response = post(client, {"customer": {"email": "late@example.nl"}})
    assert response.status_code == 429 and int(response["Retry-After"]) == 45  # until the minute is over
    assert response["Content-Type"] == "application/problem+json"
    time_machine.move_to(dt.datetime(2026, 11, 23, 9, 1, 0, tzinfo=dt.UTC), tick=False)
    assert post(client, {"customer": {"email": "next-minute@example.nl"}}).status_code == 201


def test_a_redis_outage_never_costs_a_lead(portal, open_dealer, settings, django_capture_on_commit_callbacks):
    """Throttle counter and outbox wake-up live in Redis; with Redis gone the lead is still stored and routed."""
    settings.CACHES = {"default": {"BACKEND": "config.cache.ReusedClientRedisCache",
                                   "LOCATION": "redis://127.0.0.1:1/0"}}  # nothing listens there
    import redis
    from django.core.cache import cache

    with pytest.raises(redis.exceptions.ConnectionError):
        cache.get("anything")  # the outage is real
    with django_capture_on_commit_callbacks(execute=True):
        response = post(portal, {"customer": {"email": "tijdens-storing@example.nl"}})
    assert response.status_code == 201 and response.json()["assigned_to"] is not None
    assert Notification.objects.unscoped().filter(lead_id=response.json()["id"], email_status="pending").exists()  # beat sends it


def test_one_keys_budget_is_not_anothers(cast, open_dealer):
    spent = APIClient()
    spent.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(cast.dealer_a, rate_per_minute=1)}")
    fresh = APIClient()
    fresh.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(cast.dealer_a, source='autoscout24', rate_per_minute=1)}")
    assert [post(spent, {"customer": {"email": f"s{i}@example.nl"}}).status_code for i in range(2)] == [201, 429]
    assert post(fresh, {"customer": {"email": "f@example.nl"}}).status_code == 201


def test_read_back_shows_the_portal_its_lead_and_response_time(portal, open_dealer, cast):
    created = post(portal, LEAD).json()
    from followup.services import attempt_log

    lead = Lead.objects.unscoped().get(pk=created["id"])
    attempt_log(lead=lead, by=lead.assignee, channel="call", outcome="connected")
    response = portal.get(f"/api/v1/leads/{created['id']}/")
    assert response.status_code == 200
    body = response.json()
    assert body["source"] == "website" and body["channel"] == "web_form" and body["reason"] is None
    assert body["customer"]["phone"] == "+31612345678" and body["customer"]["phone_raw"] == "06 12345678"
    assert body["contact_attempts"] == 1 and body["first_contact_at"] is not None
    assert body["escalations"] == [] and body["vehicle"]["model"] == "Tucson" and body["message"] == LEAD["message"]
    assert body["received_at"] == "2026-11-22T10:04:00+01:00"


def test_read_back_of_another_sources_or_dealers_lead_is_404(portal, open_dealer, cast):
    created = post(portal, LEAD).json()
    other_source = APIClient()
    other_source.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(cast.dealer_a, 'marktplaats')}")
    other_dealer = APIClient()
    other_dealer.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(cast.dealer_b)}")
    for client in (other_source, other_dealer):
        response = client.get(f"/api/v1/leads/{created['id']}/")
        assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"
    assert portal.get("/api/v1/leads/not-a-uuid/").status_code == 404


@pytest.mark.parametrize("breaks", ["before deciding", "halfway, after setting the deadline", "writing the notice",
                                    "in the database, holding the dealer's lock"])
@pytest.mark.parametrize("transaction", [
    pytest.param("its own", marks=pytest.mark.django_db(transaction=True)),  # as a portal's POST: no savepoint taken
    "a caller's",  # as the mail intake's: routing keeps a savepoint in it
])
def test_a_lead_survives_a_routing_failure_and_the_sweep_routes_it(portal, open_dealer, monkeypatch, breaks, transaction):
    import leads.api
    import routing.services
    from followup.services import followup_sweep

    def broken(**kwargs):
        raise RuntimeError("routing is down")

    if breaks == "before deciding":
        monkeypatch.setattr(leads.api, "lead_route_new", broken)
    elif breaks == "writing the notice":  # after the round-robin picked someone
        monkeypatch.setattr(routing.services, "assignee_notice", broken)
    elif breaks == "in the database, holding the dealer's lock":  # the transaction is aborted: stored again, unrouted
        from django.db import connection

        def count_fails(**kwargs):
            with connection.cursor() as cursor:
                cursor.execute("SELECT id FROM dealers_dealer FOR NO KEY UPDATE")
                cursor.execute("SELECT 1 / 0")

        monkeypatch.setattr(routing.services, "round_robin_seats", count_fails)
    else:  # the lead already carries a queue and a deadline when the round-robin fails: none of it may be stored
        monkeypatch.setattr(routing.services, "_sales_pick", broken)
    response = post(portal, {"customer": {"email": "a@b.nl"}})
    assert response.status_code == 201
    lead = Lead.objects.unscoped().get(pk=response.json()["id"])
    assert lead.routed_at is None and response.json()["queue"] is None and response.json()["first_response_due_at"] is None
    assert (lead.queue, lead.kind, lead.deadline_at, lead.next_action_at) == ("", "", None, None)
    assert not Notification.objects.unscoped().filter(lead=lead).exists()
    assert Customer.objects.unscoped().filter(email="a@b.nl").count() == 1  # nothing of a lost transaction is kept
    monkeypatch.undo()
    from django.utils import timezone

    followup_sweep(now=timezone.now() + timezone.timedelta(seconds=30))
    lead.refresh_from_db()
    assert lead.routed_at is not None and lead.assignee is not None


def test_nul_characters_and_lone_surrogates_are_stored_not_refused(portal, open_dealer):
    body = '{"customer": {"email": "jan\\u0000@example.nl", "first_name": "J\\ud800an"}, "extra\\u0000": {"k\\u0000": 1}}'
    response = portal.post("/api/v1/leads/", body, content_type="application/json")
    assert response.status_code == 201, response.content
    lead = Lead.objects.unscoped().get(pk=response.json()["id"])
    assert lead.customer.email == "jan@example.nl" and lead.customer.first_name == "J?an"


def _statements(client, method, path, body=None):
    with CaptureQueriesContext(connection) as queries:
        response = client.post(path, body, format="json") if method == "post" else client.get(path)
    assert response.status_code in (200, 201), response.content
    return response, len(queries)


def test_posting_a_lead_takes_the_same_statements_however_big_the_dealer(portal, open_dealer, cast):
    """No statement per salesperson, per open lead or per opening period: the intake's cost is fixed."""
    post(portal, {**LEAD, "external_id": "first"})  # the key's first use this minute and the policy's creation
    _response, few = _statements(portal, "post", "/api/v1/leads/", {"external_id": "small", "customer": {"email": "a@b.nl"}})
    for _n in range(8):
        salesperson = MembershipFactory(dealer=open_dealer).user
        LeadFactory.create_batch(3, dealer=open_dealer, assignee=salesperson)
    _response, many = _statements(portal, "post", "/api/v1/leads/", {"external_id": "big", "customer": {"email": "c@d.nl"}})
    # The key with the dealer's opening hours; BEGIN; the customer's match and insert; the routing's savepoint (inside
    # the test's transaction), the dealer's lock with the round-robin's count (one message); the lead with its notice,
    # first events and the pick's stamp (one statement); COMMIT.
    assert many == few == 8


@pytest.mark.django_db(transaction=True)
def test_a_portals_post_outside_any_transaction_takes_no_savepoint(portal, open_dealer):
    """As in production: the intake's transaction is the outermost, so routing takes no savepoint (7, not 8)."""
    post(portal, {**LEAD, "external_id": "first"})
    _response, count = _statements(portal, "post", "/api/v1/leads/", {"external_id": "own", "customer": {"email": "e@f.nl"}})
    assert count == 7


def test_reading_a_lead_back_takes_a_fixed_number_of_statements(portal, open_dealer):
    created = post(portal, LEAD).json()
    _response, first = _statements(portal, "get", f"/api/v1/leads/{created['id']}/")
    post(portal, {**LEAD, "external_id": "second"})
    _response, second = _statements(portal, "get", f"/api/v1/leads/{created['id']}/")
    assert first == second <= 6


def test_the_201_body_is_what_the_documented_serializer_renders(portal, open_dealer, cast):
    """The body is built without the serializer (cheaper at intake); the serializer is the schema it must match."""
    from leads.serializers import LeadOutSerializer

    assigned = post(portal, LEAD).json()
    again = post(portal, LEAD).json()
    queued = post(portal, {"external_id": "passive", "reason": "lease_end", "customer": {"phone": "0000000000"}}).json()
    for body, duplicate in ((assigned, False), (again, True), (queued, False)):
        lead = Lead.objects.unscoped().get(pk=body["id"])
        assert body == dict(LeadOutSerializer(lead, context={"duplicate": duplicate}).data)
    assert queued["assigned_to"] is None and queued["warnings"] and again["duplicate"] is True
