"""The team API: who sees which leads, logging attempts, the minimum-attempts rule, the policy and the BDC queue."""

import datetime as dt
import threading

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from dealers.models import AuditEntry, FollowUpPolicy, Role
from dealers.services import policy_get
from followup.models import Appointment, ContactAttempt, Escalation
from followup.services import appointment_set, attempt_log
from leads.models import Lead, LeadEvent, Notification, NotificationKind
from tests.conftest import team_client
from tests.factories import CustomerFactory, LeadFactory, MembershipFactory, UserFactory, make_group_admin

PROBLEM = "application/problem+json"
T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)  # a Monday, 10:00 in Amsterdam


def leads_url(lead=None, action=""):
    base = "/api/v1/team/leads/"
    return f"{base}{lead.pk}/{action}" if lead else base


def lead(cast, *, assignee=None, queue="sales", **kwargs):
    kind = "passive" if queue == "bdc" else "active"
    return LeadFactory(dealer=cast.dealer_a, assignee=assignee, queue=queue, kind=kind, **kwargs)


def ids(response):
    return [item["id"] for item in response.json()["results"]]


def set_policy(dealer, **values):
    policy = policy_get(dealer=dealer)
    FollowUpPolicy.objects.filter(pk=policy.pk).update(**values)


def log_attempts_via_api(client, the_lead, minutes_apart, count, outcome="no_answer", start=T0):
    for i in range(count):
        with time_machine.travel(start + dt.timedelta(minutes=minutes_apart * i), tick=False):
            response = client.post(leads_url(the_lead, "attempts/"), {"channel": "call", "outcome": outcome}, format="json")
            assert response.status_code == 201, response.content
    return response


# ------------------------------------------------------------------------------------------------ the URLs


def test_the_team_urls_are_the_contracts():
    some_id = "4f0c0000-0000-4000-8000-000000000000"
    assert reverse("team-leads") == "/api/v1/team/leads/"
    assert reverse("team-lead-detail", args=[some_id]) == f"/api/v1/team/leads/{some_id}/"
    assert reverse("team-lead-attempts", args=[some_id]) == f"/api/v1/team/leads/{some_id}/attempts/"
    assert reverse("team-lead-appointments", args=[some_id]) == f"/api/v1/team/leads/{some_id}/appointments/"
    assert reverse("team-lead-appointment-outcome", args=[some_id, 7]) == f"/api/v1/team/leads/{some_id}/appointments/7/outcome/"
    assert reverse("team-lead-close", args=[some_id]) == f"/api/v1/team/leads/{some_id}/close/"
    assert reverse("team-policy") == "/api/v1/team/policy/"


# ------------------------------------------------------------------------------------------------ the list


def test_the_list_puts_overdue_leads_first_then_the_next_deadline(cast):
    now = timezone.now()
    later = lead(cast, assignee=cast.sales_a1, deadline_at=now + dt.timedelta(hours=2))
    overdue = lead(cast, assignee=cast.sales_a1, deadline_at=now - dt.timedelta(minutes=30))
    most_overdue = lead(cast, assignee=cast.sales_a1, deadline_at=now - dt.timedelta(hours=3))
    no_deadline = lead(cast, assignee=cast.sales_a1, deadline_at=None, status="appointment")
    lead(cast, assignee=cast.sales_a1, status="sold", closed_at=now)  # closed: not on the working list

    response = team_client(cast.sales_a1).get(leads_url())

    assert response.status_code == 200
    assert ids(response) == [str(most_overdue.pk), str(overdue.pk), str(later.pk), str(no_deadline.pk)]
    assert [item["overdue"] for item in response.json()["results"]] == [True, True, False, False]


def test_a_list_item_carries_what_a_salesperson_needs(cast):
    customer = CustomerFactory(dealer=cast.dealer_a, first_name="Jan", last_name="de Vries", email="jan@example.nl",
                               phone="", phone_raw="06 00000000")
    item_lead = lead(cast, assignee=cast.sales_a1, customer=customer, data_flags=["phone_placeholder"], score=40,
                     vehicle={"make": "Hyundai", "model": "Tucson"}, received_at=T0,
                     first_response_due_at=T0 + dt.timedelta(minutes=5), deadline_at=T0 + dt.timedelta(minutes=5))
    attempt_log(lead=item_lead, by=cast.sales_a1, channel="email", outcome="sent", at=T0 + dt.timedelta(minutes=1))

    item = team_client(cast.sales_a1).get(leads_url()).json()["results"][0]

    assert item["customer"] == {"id": customer.pk, "name": "Jan de Vries", "phone": "", "phone_raw": "06 00000000",
                                "email": "jan@example.nl"}
    assert item["assigned_to"] == {"id": cast.sales_a1.pk, "name": cast.sales_a1.display_name}
    assert item["status"] == "attempted"
    assert (item["kind"], item["queue"], item["source"], item["channel"], item["reason"]) == (
        "active", "sales", "website", "web_form", None)
    assert (item["attempts"], item["counted_attempts"], item["attempts_owed"], item["score"]) == (1, 1, 3, 40)
    assert item["received_at"] == "2026-11-23T10:00:00+01:00"  # the dealer's time zone
    assert item["first_response_due_at"] == "2026-11-23T10:05:00+01:00"
    assert item["data_flags"][0]["code"] == "phone_placeholder"
    assert "e-mail" in item["data_flags"][0]["hint"]
    assert item["vehicle"] == {"make": "Hyundai", "model": "Tucson"}


@pytest.mark.parametrize("who,sees", [
    ("manager_a", {"mine", "colleagues", "bdc_queue", "bdc_claimed"}),
    ("sales_a1", {"mine"}),
    ("sales_a2", {"colleagues"}),
    ("bdc_a", {"bdc_queue", "bdc_claimed"}),
])
def test_who_sees_which_leads(cast, who, sees):
    leads = {
        "mine": lead(cast, assignee=cast.sales_a1),
        "colleagues": lead(cast, assignee=cast.sales_a2),
        "bdc_queue": lead(cast, queue="bdc"),
        "bdc_claimed": lead(cast, queue="bdc", assignee=cast.bdc_a),
    }
    LeadFactory(dealer=cast.dealer_b, assignee=cast.outsider_b)  # never visible to dealer A

    response = team_client(getattr(cast, who)).get(leads_url())

    assert set(ids(response)) == {str(leads[name].pk) for name in sees}


def test_a_person_of_two_dealers_picks_one_with_the_dealer_parameter(cast):
    MembershipFactory(dealer=cast.dealer_b, user=cast.sales_a1, role=Role.SALESPERSON)
    in_a = lead(cast, assignee=cast.sales_a1)
    in_b = LeadFactory(dealer=cast.dealer_b, assignee=cast.sales_a1)
    client = team_client(cast.sales_a1)

    assert ids(client.get(leads_url(), {"dealer": "dealer-b"})) == [str(in_b.pk)]
    assert ids(client.get(leads_url(), {"dealer": "dealer-a"})) == [str(in_a.pk)]
    assert client.get(leads_url(in_b), {"dealer": "dealer-a"}).status_code == 404


def test_the_list_runs_the_same_queries_for_5_and_40_leads(cast, django_assert_num_queries):
    policy_get(dealer=cast.dealer_a)
    people = [cast.sales_a1, cast.sales_a2, None]

    def make(n):
        for i in range(n):
            lead(cast, assignee=people[i % 3], data_flags=["no_email"] if i % 2 else [])

    make(5)
    client = team_client(cast.manager_a)
    with CaptureQueriesContext(connection) as few:
        assert len(client.get(leads_url()).json()["results"]) == 5
    make(35)
    with django_assert_num_queries(len(few.captured_queries)):
        assert len(client.get(leads_url()).json()["results"]) == 40


def test_the_list_is_paginated(cast):
    for _ in range(3):
        lead(cast, assignee=cast.sales_a1)
    body = team_client(cast.sales_a1).get(leads_url(), {"page_size": 2}).json()
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"]


# ------------------------------------------------------------------------------------------------ the detail


def test_the_detail_tells_the_whole_story(cast):
    customer = CustomerFactory(dealer=cast.dealer_a)
    earlier = lead(cast, customer=customer, assignee=cast.sales_a2, received_at=T0 - dt.timedelta(days=90),
                   status="lost", closed_at=T0 - dt.timedelta(days=80))
    the_lead = lead(cast, customer=customer, assignee=cast.sales_a1, received_at=T0, message="Kan ik morgen een proefrit maken?",
                    trade_in={"make": "Kia", "model": "Picanto"})
    lead(cast, customer=customer, received_at=T0 + dt.timedelta(days=5))  # later: not "earlier"
    with time_machine.travel(T0 + dt.timedelta(minutes=2), tick=False):
        attempt_log(lead=the_lead, by=cast.sales_a1, channel="call", outcome="no_answer", note="Voicemail vol")
    with time_machine.travel(T0 + dt.timedelta(minutes=12), tick=False):
        attempt_log(lead=the_lead, by=cast.sales_a1, channel="call", outcome="connected")
    appointment = appointment_set(lead=the_lead, by=cast.sales_a1, scheduled_at=T0 + dt.timedelta(days=1), kind="test_drive")
    Escalation.objects.create(dealer=cast.dealer_a, lead=the_lead, level=1, action="remind", due_at=T0, at=T0)

    response = team_client(cast.sales_a1).get(leads_url(the_lead))

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(the_lead.pk)
    assert body["message"] == "Kan ik morgen een proefrit maken?"
    assert body["trade_in"] == {"make": "Kia", "model": "Picanto"}
    assert body["status"] == "appointment"
    attempts = body["contact_attempts"]
    assert [(a["outcome"], a["note"], a["verified"], a["counts_toward_minimum"]) for a in attempts] == [
        ("no_answer", "Voicemail vol", False, True), ("connected", "", False, False)]  # 10 minutes apart: one counts
    assert attempts[0]["by"]["id"] == cast.sales_a1.pk
    assert body["appointments"] == [{"id": appointment.pk, "kind": "test_drive",
                                     "scheduled_at": "2026-11-24T10:00:00+01:00", "showed": None, "outcome_at": None}]
    assert [(e["level"], e["action"]) for e in body["escalations"]] == [(1, "remind")]
    assert body["earlier_leads"] == [{"id": str(earlier.pk), "received_at": "2026-08-25T11:00:00+02:00", "status": "lost"}]
    attempt_events = [e for e in body["timeline"] if e["type"] == "attempt"]
    assert attempt_events[0]["actor"] == cast.sales_a1.display_name
    assert attempt_events[0]["text"] == "Voicemail vol"
    assert attempt_events[0]["data"]["outcome"] == "no_answer"
    assert attempt_events[0]["at"] == "2026-11-23T10:02:00+01:00"


def test_a_closed_lead_can_still_be_read(cast):
    closed = lead(cast, assignee=cast.sales_a1, status="sold", closed_at=timezone.now())
    response = team_client(cast.sales_a1).get(leads_url(closed))
    assert response.status_code == 200
    assert response.json()["status"] == "sold"


# ------------------------------------------------------------------------------------------------ scope: 404s


def every_lead_endpoint(the_lead, appointment):
    return [
        ("get", leads_url(the_lead), None),
        ("post", leads_url(the_lead, "attempts/"), {"channel": "call", "outcome": "no_answer"}),
        ("post", leads_url(the_lead, "appointments/"), {"scheduled_at": "2026-11-24T10:00:00+01:00", "kind": "showroom"}),
        ("post", leads_url(the_lead, f"appointments/{appointment.pk}/outcome/"), {"showed": True}),
        ("post", leads_url(the_lead, "close/"), {"outcome": "not_interested", "reason": "Al gekocht"}),
        ("patch", leads_url(the_lead, "score/"), {"budget": 25}),
    ]


@pytest.mark.parametrize("dealer_param", [None, "dealer-a"])
def test_the_outsider_gets_404_on_every_team_endpoint_for_dealer_as_lead(cast, dealer_param):
    the_lead = lead(cast, assignee=cast.sales_a1)
    bdc_lead = lead(cast, queue="bdc")
    appointment = Appointment.objects.create(dealer=cast.dealer_a, lead=the_lead, scheduled_at=T0)
    client = team_client(cast.outsider_b)
    query = f"?dealer={dealer_param}" if dealer_param else ""
    endpoints = [*every_lead_endpoint(the_lead, appointment),
                 ("post", leads_url(bdc_lead, "handover/"), {"note": "Afspraak gemaakt"})]

    for method, url, body in endpoints:
        response = getattr(client, method)(url + query, body, format="json")
        assert response.status_code == 404, (method, url)
        assert response["Content-Type"] == PROBLEM

    if dealer_param:  # dealer A's non-lead endpoints do not exist for the outsider either
        for method, url in [("get", "/api/v1/team/leads/"), ("get", "/api/v1/team/policy/"), ("patch", "/api/v1/team/policy/"),
                            ("post", "/api/v1/team/bdc/next/"), ("get", "/api/v1/team/notifications/"),
                            ("post", "/api/v1/team/notifications/read/")]:
            response = getattr(client, method)(url + query, {}, format="json")
            assert response.status_code == 404, (method, url)
    the_lead.refresh_from_db()
    assert (the_lead.status, the_lead.attempt_count, the_lead.score, the_lead.assignee_id) == ("new", 0, 0, cast.sales_a1.pk)
    assert appointment.__class__.objects.unscoped().get(pk=appointment.pk).showed is None
    assert Lead.objects.unscoped().get(pk=bdc_lead.pk).assignee is None


def test_a_salesperson_gets_404_on_a_colleagues_lead(cast):
    colleagues = lead(cast, assignee=cast.sales_a2)
    appointment = Appointment.objects.create(dealer=cast.dealer_a, lead=colleagues, scheduled_at=T0)
    client = team_client(cast.sales_a1)

    for method, url, body in every_lead_endpoint(colleagues, appointment):
        assert getattr(client, method)(url, body, format="json").status_code == 404, (method, url)
    assert not ContactAttempt.objects.unscoped().filter(lead=colleagues).exists()
    assert Lead.objects.unscoped().get(pk=colleagues.pk).closed_at is None


# ------------------------------------------------------------------------------------------------ attempts


def test_logging_an_attempt_is_a_201_self_reported_attempt(cast):
    the_lead = lead(cast, assignee=cast.sales_a1)

    response = team_client(cast.sales_a1).post(leads_url(the_lead, "attempts/"),
                                               {"channel": "whatsapp", "outcome": "sent", "note": "Prijsvoorstel gestuurd"},
                                               format="json")

    assert response.status_code == 201
    body = response.json()
    assert (body["channel"], body["outcome"], body["note"], body["verified"]) == (
        "whatsapp", "sent", "Prijsvoorstel gestuurd", False)
    assert body["lead"]["attempts"] == 1
    assert body["lead"]["status"] == "attempted"
    attempt = ContactAttempt.objects.unscoped().get(lead=the_lead)
    assert (attempt.user, attempt.verified) == (cast.sales_a1, False)


@pytest.mark.parametrize("body", [{"channel": "pigeon", "outcome": "sent"}, {"channel": "call", "outcome": "maybe"}, {}])
def test_an_invalid_attempt_is_a_400_problem(cast, body):
    the_lead = lead(cast, assignee=cast.sales_a1)
    response = team_client(cast.sales_a1).post(leads_url(the_lead, "attempts/"), body, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert response.json()["errors"]
    assert not ContactAttempt.objects.unscoped().exists()


def test_attempts_closer_than_the_spacing_count_as_one(cast):
    set_policy(cast.dealer_a, attempt_spacing_minutes=60)
    the_lead = lead(cast, assignee=cast.sales_a1)
    client = team_client(cast.sales_a1)

    last = log_attempts_via_api(client, the_lead, minutes_apart=10, count=3)

    assert (last.json()["lead"]["attempts"], last.json()["lead"]["counted_attempts"]) == (3, 1)
    assert last.json()["lead"]["attempts_owed"] == 3
    assert last.json()["counts_toward_minimum"] is False
    detail = client.get(leads_url(the_lead)).json()
    assert [a["counts_toward_minimum"] for a in detail["contact_attempts"]] == [True, False, False]


def test_with_spacing_zero_every_attempt_counts(cast):
    set_policy(cast.dealer_a, attempt_spacing_minutes=0)
    the_lead = lead(cast, assignee=cast.sales_a1)

    last = log_attempts_via_api(team_client(cast.sales_a1), the_lead, minutes_apart=10, count=3)

    item = last.json()["lead"]
    assert (item["attempts"], item["counted_attempts"], item["attempts_owed"]) == (3, 3, 1)


# ------------------------------------------------------------------------------------------------ closing


def test_closing_unreachable_after_two_attempts_is_refused_with_what_is_owed(cast):
    the_lead = lead(cast, assignee=cast.sales_a1)
    client = team_client(cast.sales_a1)
    log_attempts_via_api(client, the_lead, minutes_apart=90, count=2)

    response = client.post(leads_url(the_lead, "close/"), {"outcome": "unreachable", "reason": "Neemt niet op"}, format="json")

    assert response.status_code == 409
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert (body["attempts_owed"], body["min_attempts"], body["counted_attempts"]) == (2, 4, 2)
    assert body["type"].endswith("/attempts-owed")
    assert "2 more contact attempt" in body["detail"]
    assert Lead.objects.unscoped().get(pk=the_lead.pk).closed_at is None


def test_close_counts_spaced_attempts_only(cast):
    the_lead = lead(cast, assignee=cast.sales_a1)
    client = team_client(cast.sales_a1)
    log_attempts_via_api(client, the_lead, minutes_apart=10, count=4)  # one cluster: one counted attempt

    response = client.post(leads_url(the_lead, "close/"), {"outcome": "unreachable"}, format="json")

    assert response.status_code == 409
    assert response.json()["attempts_owed"] == 3


def test_closing_unreachable_after_four_spaced_attempts_works(cast):
    the_lead = lead(cast, assignee=cast.sales_a1)
    client = team_client(cast.sales_a1)
    log_attempts_via_api(client, the_lead, minutes_apart=60, count=4)

    response = client.post(leads_url(the_lead, "close/"), {"outcome": "unreachable", "reason": "Vier keer geprobeerd"},
                           format="json")

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["status"], body["close_reason"], body["attempts_owed"]) == (
        str(the_lead.pk), "unreachable", "Vier keer geprobeerd", 0)
    assert body["closed_at"]
    assert Lead.objects.unscoped().get(pk=the_lead.pk).status == "unreachable"


def test_not_interested_without_the_minimum_is_allowed_but_flagged_to_the_manager(cast):
    the_lead = lead(cast, assignee=cast.sales_a1)
    client = team_client(cast.sales_a1)
    log_attempts_via_api(client, the_lead, minutes_apart=0, count=1, outcome="connected")

    response = client.post(leads_url(the_lead, "close/"), {"outcome": "not_interested", "reason": "Al elders gekocht"},
                           format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "not_interested"
    assert response.json()["manager_flag"]
    stored = Lead.objects.unscoped().get(pk=the_lead.pk)
    assert stored.manager_flag
    notice = Notification.objects.unscoped().get(recipient=cast.manager_a, lead=the_lead)
    assert notice.kind == NotificationKind.MANAGER_ALERT


def test_closing_a_closed_lead_is_a_409_problem(cast):
    closed = lead(cast, assignee=cast.sales_a1, status="sold", closed_at=timezone.now())
    response = team_client(cast.sales_a1).post(leads_url(closed, "close/"), {"outcome": "lost"}, format="json")
    assert response.status_code == 409
    assert response["Content-Type"] == PROBLEM
    assert response.json()["type"].endswith("/lead-closed")


def test_handing_over_a_closed_lead_is_the_409_lead_closed_problem(cast):
    closed = lead(cast, assignee=cast.bdc_a, queue="bdc", status="lost", closed_at=timezone.now())
    response = team_client(cast.bdc_a).post(leads_url(closed, "handover/"), {"note": "afspraak"}, format="json")
    assert response.status_code == 409 and response["Content-Type"] == PROBLEM
    assert response.json()["type"].endswith("/lead-closed")


def test_an_unknown_close_outcome_is_a_400(cast):
    the_lead = lead(cast, assignee=cast.sales_a1)
    response = team_client(cast.sales_a1).post(leads_url(the_lead, "close/"), {"outcome": "contacted"}, format="json")
    assert response.status_code == 400
    assert "outcome" in response.json()["errors"]


# ------------------------------------------------------------------------------------------------ appointments


def test_an_appointment_and_its_outcome(cast):
    the_lead = lead(cast, assignee=cast.sales_a1)
    client = team_client(cast.sales_a1)

    created = client.post(leads_url(the_lead, "appointments/"),
                          {"scheduled_at": "2026-11-24T14:30:00+01:00", "kind": "test_drive"}, format="json")

    assert created.status_code == 201
    assert (created.json()["kind"], created.json()["scheduled_at"]) == ("test_drive", "2026-11-24T14:30:00+01:00")
    assert Lead.objects.unscoped().get(pk=the_lead.pk).status == "appointment"
    appointment_id = created.json()["id"]

    outcome = client.post(leads_url(the_lead, f"appointments/{appointment_id}/outcome/"), {"showed": True}, format="json")

    assert outcome.status_code == 200
    assert outcome.json()["showed"] is True
    assert Appointment.objects.unscoped().get(pk=appointment_id).showed is True
    assert LeadEvent.objects.unscoped().filter(lead=the_lead, type="appointment_outcome").exists()


def test_an_appointment_of_another_lead_is_a_404(cast):
    mine = lead(cast, assignee=cast.sales_a1)
    also_mine = lead(cast, assignee=cast.sales_a1)
    other_appointment = Appointment.objects.create(dealer=cast.dealer_a, lead=also_mine, scheduled_at=T0)

    response = team_client(cast.sales_a1).post(leads_url(mine, f"appointments/{other_appointment.pk}/outcome/"),
                                               {"showed": False}, format="json")

    assert response.status_code == 404
    assert Appointment.objects.unscoped().get(pk=other_appointment.pk).showed is None


def test_an_appointment_needs_a_time_and_a_known_kind(cast):
    the_lead = lead(cast, assignee=cast.sales_a1)
    response = team_client(cast.sales_a1).post(leads_url(the_lead, "appointments/"),
                                               {"scheduled_at": "morgen", "kind": "lunch"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"scheduled_at", "kind"}


# ------------------------------------------------------------------------------------------------ the policy


POLICY_URL = "/api/v1/team/policy/"


def test_a_manager_reads_the_policy_with_the_domain_defaults(cast):
    response = team_client(cast.manager_a).get(POLICY_URL)
    assert response.status_code == 200
    body = response.json()
    assert (body["first_response_minutes"], body["min_attempts"], body["attempt_spacing_minutes"]) == (5, 4, 60)
    assert body["cadence_days"] == [0, 1, 3, 6]
    assert body["map_target"] == 0.36


def test_a_manager_changes_the_policy_and_it_is_on_the_audit_trail(cast):
    response = team_client(cast.manager_a).patch(POLICY_URL, {"min_attempts": 5, "attempt_spacing_minutes": 30}, format="json")

    assert response.status_code == 200
    assert (response.json()["min_attempts"], response.json()["attempt_spacing_minutes"]) == (5, 30)
    policy = FollowUpPolicy.objects.get(dealer=cast.dealer_a)
    assert (policy.min_attempts, policy.attempt_spacing_minutes) == (5, 30)
    entry = AuditEntry.objects.unscoped().get(dealer=cast.dealer_a, action="policy.updated")
    assert entry.actor == cast.manager_a
    assert entry.changes == {"min_attempts": ["4", "5"], "attempt_spacing_minutes": ["60", "30"]}


def test_the_changed_minimum_governs_closing(cast):
    team_client(cast.manager_a).patch(POLICY_URL, {"min_attempts": 2}, format="json")
    the_lead = lead(cast, assignee=cast.sales_a1)
    client = team_client(cast.sales_a1)
    log_attempts_via_api(client, the_lead, minutes_apart=60, count=2)

    assert client.post(leads_url(the_lead, "close/"), {"outcome": "unreachable"}, format="json").status_code == 200


@pytest.mark.parametrize("who", ["sales_a1", "bdc_a"])
def test_others_may_not_read_or_change_the_policy(cast, who):
    client = team_client(getattr(cast, who))
    assert client.get(POLICY_URL).status_code == 403
    response = client.patch(POLICY_URL, {"min_attempts": 1}, format="json")
    assert response.status_code == 403
    assert response["Content-Type"] == PROBLEM
    assert policy_get(dealer=cast.dealer_a).min_attempts == 4
    assert not AuditEntry.objects.unscoped().filter(action="policy.updated").exists()


def test_a_group_admin_may_change_the_policy(cast):
    admin = UserFactory(email="groepsbeheer@a.test")
    make_group_admin(cast.dealer_a, admin)
    response = team_client(admin).patch(POLICY_URL + "?dealer=dealer-a", {"first_response_minutes": 10}, format="json")
    assert response.status_code == 200
    assert policy_get(dealer=cast.dealer_a).first_response_minutes == 10


@pytest.mark.parametrize("body,field", [
    ({"min_attempts": 0}, "min_attempts"),
    ({"attempt_spacing_minutes": -5}, "attempt_spacing_minutes"),
    ({"manager_alert_after_minutes": 120, "reassign_after_minutes": 60}, "reassign_after_minutes"),
    ({"remind_after_minutes": 30, "manager_alert_after_minutes": 10}, "manager_alert_after_minutes"),
    ({"remind_after_minutes": 90}, "manager_alert_after_minutes"),  # against the stored alert (15)
    ({"cadence_days": [0, -1]}, "cadence_days.1"),
    ({"cadence_days": "0,1,3"}, "cadence_days"),
    ({"map_target": 1.5}, "map_target"),
])
def test_invalid_policy_values_are_a_400_naming_the_field(cast, body, field):
    response = team_client(cast.manager_a).patch(POLICY_URL, body, format="json")

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert field in response.json()["errors"], response.json()
    assert policy_get(dealer=cast.dealer_a).min_attempts == 4
    assert not AuditEntry.objects.unscoped().filter(action="policy.updated").exists()


# ------------------------------------------------------------------------------------------------ the BDC


NEXT_URL = "/api/v1/team/bdc/next/"


def test_bdc_next_claims_the_most_urgent_lead_and_204_when_the_queue_is_empty(cast):
    now = timezone.now()
    urgent = lead(cast, queue="bdc", next_action_at=now - dt.timedelta(hours=1))
    later = lead(cast, queue="bdc", next_action_at=now + dt.timedelta(hours=1))
    second_agent = MembershipFactory(dealer=cast.dealer_a, role=Role.BDC_AGENT, user=UserFactory(email="bdc2@a.test")).user

    first = team_client(cast.bdc_a).post(NEXT_URL)
    second = team_client(second_agent).post(NEXT_URL)
    empty = team_client(cast.bdc_a).post(NEXT_URL)

    assert (first.status_code, second.status_code, empty.status_code) == (200, 200, 204)
    assert first.json()["id"] == str(urgent.pk)
    assert first.json()["assigned_to"]["id"] == cast.bdc_a.pk
    assert second.json()["id"] == str(later.pk)
    assert Lead.objects.unscoped().get(pk=later.pk).assignee == second_agent


@pytest.mark.django_db(transaction=True)
def test_two_agents_pressing_next_at_once_get_different_leads(cast):
    for _ in range(2):
        lead(cast, queue="bdc")
    agents = [cast.bdc_a, MembershipFactory(dealer=cast.dealer_a, role=Role.BDC_AGENT,
                                            user=UserFactory(email="bdc2@a.test")).user]
    start = threading.Barrier(2)
    claimed = {}

    def press_next(agent):
        try:
            client = team_client(agent)
            start.wait()
            response = client.post(NEXT_URL)
            claimed[agent.pk] = (response.status_code, response.json()["id"] if response.status_code == 200 else None)
        finally:
            connection.close()

    threads = [threading.Thread(target=press_next, args=(agent,)) for agent in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [status for status, _ in claimed.values()] == [200, 200]
    assert len({lead_id for _, lead_id in claimed.values()}) == 2
    assert set(Lead.objects.unscoped().filter(queue="bdc").values_list("assignee_id", flat=True)) == {a.pk for a in agents}


@pytest.mark.parametrize("who", ["sales_a1", "manager_a"])
def test_only_bdc_agents_press_next(cast, who):
    waiting = lead(cast, queue="bdc")
    assert team_client(getattr(cast, who)).post(NEXT_URL).status_code == 403
    assert Lead.objects.unscoped().get(pk=waiting.pk).assignee is None


def test_the_bdc_hands_a_lead_over_to_a_chosen_salesperson(cast):
    bdc_lead = lead(cast, queue="bdc", assignee=cast.bdc_a)

    body = {"salesperson_id": cast.sales_a2.pk, "note": "Proefrit zaterdag 10:00"}
    response = team_client(cast.bdc_a).post(leads_url(bdc_lead, "handover/"), body, format="json")

    assert response.status_code == 200
    assert (response.json()["queue"], response.json()["assigned_to"]["id"]) == ("sales", cast.sales_a2.pk)
    stored = Lead.objects.unscoped().get(pk=bdc_lead.pk)
    assert (stored.queue, stored.assignee) == ("sales", cast.sales_a2)
    assert Notification.objects.unscoped().filter(recipient=cast.sales_a2, lead=bdc_lead, kind=NotificationKind.HANDOVER).exists()
    assert str(bdc_lead.pk) in ids(team_client(cast.sales_a2).get(leads_url()))


def test_a_handover_without_a_name_goes_round_robin(cast):
    bdc_lead = lead(cast, queue="bdc", assignee=cast.bdc_a)
    response = team_client(cast.bdc_a).post(leads_url(bdc_lead, "handover/"), {"note": "Belt terug"}, format="json")
    assert response.status_code == 200
    assert Lead.objects.unscoped().get(pk=bdc_lead.pk).assignee in (cast.sales_a1, cast.sales_a2)


@pytest.mark.parametrize("target", ["outsider_b", "manager_a", "bdc_a"])
def test_a_handover_only_goes_to_a_salesperson_of_this_dealer(cast, target):
    bdc_lead = lead(cast, queue="bdc", assignee=cast.bdc_a)

    response = team_client(cast.bdc_a).post(leads_url(bdc_lead, "handover/"),
                                            {"salesperson_id": getattr(cast, target).pk}, format="json")

    assert response.status_code == 400
    assert "salesperson_id" in response.json()["errors"]
    assert Lead.objects.unscoped().get(pk=bdc_lead.pk).queue == "bdc"


def test_a_salesperson_cannot_use_the_handover(cast):
    own = lead(cast, assignee=cast.sales_a1)
    response = team_client(cast.sales_a1).post(leads_url(own, "handover/"), {"salesperson_id": cast.sales_a2.pk}, format="json")
    assert response.status_code == 403
    assert Lead.objects.unscoped().get(pk=own.pk).assignee == cast.sales_a1


# ------------------------------------------------------------------------------------------------ the score


def test_adjusting_the_bant_score(cast):
    the_lead = lead(cast, assignee=cast.sales_a1, bant_budget=10, bant_authority=10, bant_need=10, bant_timeline=0, score=30)

    response = team_client(cast.sales_a1).patch(leads_url(the_lead, "score/"), {"timeline": 25, "budget": 15}, format="json")

    assert response.status_code == 200
    assert response.json()["score"] == 60
    assert response.json()["bant"] == {"budget": 15, "authority": 10, "need": 10, "timeline": 25}
    assert Lead.objects.unscoped().get(pk=the_lead.pk).score == 60


@pytest.mark.parametrize("body", [{"need": 26}, {"budget": -1}, {}])
def test_a_score_part_outside_0_to_25_is_a_400(cast, body):
    the_lead = lead(cast, assignee=cast.sales_a1, score=0)
    response = team_client(cast.sales_a1).patch(leads_url(the_lead, "score/"), body, format="json")
    assert response.status_code == 400
    assert Lead.objects.unscoped().get(pk=the_lead.pk).score == 0


# ------------------------------------------------------------------------------------------------ notifications


def notice(cast, recipient, dealer=None, minutes_ago=0, **kwargs):
    return Notification.objects.create(dealer=dealer or cast.dealer_a, recipient=recipient, kind=NotificationKind.ASSIGNED,
                                       subject="Nieuwe lead: Jan de Vries", body="Bel binnen 5 minuten",
                                       created_at=timezone.now() - dt.timedelta(minutes=minutes_ago), **kwargs)


def test_my_notices_in_this_dealer_newest_first_with_the_unread_count(cast):
    old = notice(cast, cast.sales_a1, minutes_ago=30, read_at=timezone.now())
    new = notice(cast, cast.sales_a1, minutes_ago=1)
    notice(cast, cast.sales_a2)  # a colleague's
    notice(cast, cast.sales_a1, dealer=cast.dealer_b)  # another dealer's

    body = team_client(cast.sales_a1).get("/api/v1/team/notifications/").json()

    assert [n["id"] for n in body["results"]] == [new.pk, old.pk]
    assert body["unread"] == 1
    assert body["results"][0]["read_at"] is None


def test_marking_notices_read(cast):
    first = notice(cast, cast.sales_a1)
    second = notice(cast, cast.sales_a1)
    colleagues = notice(cast, cast.sales_a2)
    client = team_client(cast.sales_a1)

    one = client.post("/api/v1/team/notifications/read/", {"ids": [first.pk, colleagues.pk]}, format="json")
    assert one.json() == {"marked": 1, "unread": 1}
    rest = client.post("/api/v1/team/notifications/read/", {}, format="json")
    assert rest.json() == {"marked": 1, "unread": 0}

    assert Notification.objects.unscoped().get(pk=second.pk).read_at is not None
    assert Notification.objects.unscoped().get(pk=colleagues.pk).read_at is None


# ------------------------------------------------------------------------------------------------ the schema


def test_the_schema_describes_the_team_api(cast):
    response = team_client(cast.manager_a).get("/api/v1/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = response.json()
    for path, method in [("/api/v1/auth/token/", "post"), ("/api/v1/team/leads/", "get"), ("/api/v1/team/leads/{id}/", "get"),
                         ("/api/v1/team/leads/{id}/attempts/", "post"), ("/api/v1/team/leads/{id}/appointments/", "post"),
                         ("/api/v1/team/leads/{id}/appointments/{appointment_id}/outcome/", "post"),
                         ("/api/v1/team/leads/{id}/close/", "post"), ("/api/v1/team/policy/", "get"),
                         ("/api/v1/team/policy/", "patch"), ("/api/v1/team/bdc/next/", "post")]:
        operation = schema["paths"][path][method]
        assert operation["tags"] == ["team"], path
    close = schema["paths"]["/api/v1/team/leads/{id}/close/"]["post"]
    assert {"200", "409"} <= set(close["responses"])
    attempt_in = schema["components"]["schemas"]["AttemptInRequest"]
    assert {"channel", "outcome"} <= set(attempt_in["required"])
