"""The manager's live board, the one-action reassignment, who may see what, and a fixed number of queries."""

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.html import escape

from dealers.models import Dealer, DealerGroup, Membership, Role
from followup.models import Escalation
from leads.models import Lead
from reporting.selectors import board_counts, overdue_leads, report_scope
from tests.conftest import team_client
from tests.factories import DealerFactory, MembershipFactory, UserFactory, make_group_admin

from .conftest import AMS, PERIOD, lead_at

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def group(cast):
    """Dealer A and a second rooftop C form one group with an admin; dealer B stays in another group."""
    group = cast.dealer_a.group
    dealer_c = DealerFactory(group=group, slug="dealer-c", name="Autobedrijf C")
    admin = UserFactory(email="groep@a.test", first_name="Femke", last_name="Hendriks")
    make_group_admin(cast.dealer_a, admin)
    sales_c = MembershipFactory(dealer=dealer_c, role=Role.SALESPERSON, user=UserFactory(email="sales@c.test")).user
    return {"group": group, "dealer_c": dealer_c, "admin": admin, "sales_c": sales_c}


def test_the_board_shows_untouched_and_overdue_leads_with_their_wait(cast):
    now = timezone.now()
    untouched = lead_at(cast.dealer_a, now - dt.timedelta(minutes=42), assignee=cast.sales_a1,
                        deadline_at=now - dt.timedelta(minutes=37))
    lead_at(cast.dealer_a, now - dt.timedelta(days=2), assignee=cast.sales_a2, first_contact_at=now - dt.timedelta(days=2),
            deadline_at=now + dt.timedelta(hours=3))
    Escalation.objects.create(dealer=cast.dealer_a, lead=untouched, level=1, action="remind", due_at=untouched.deadline_at)
    Lead.objects.unscoped().filter(pk=untouched.pk).update(escalation_level=1)
    html = client_for(cast.manager_a).get("/dashboard/").content.decode()
    assert escape(str(untouched.customer)) in html  # Faker names may hold an apostrophe
    assert "42 min" in html  # waiting since arrival
    assert "37 min" in html  # overdue by
    assert "1 × reminder" in html
    assert cast.sales_a1.display_name in html and "on duty" in html


def test_a_reassigned_lead_still_waiting_for_its_first_call_counts_as_late(cast):
    """Escalations gave it a fresh deadline; the customer has still waited 19 days for a first response."""
    now = timezone.now()
    forgotten = lead_at(cast.dealer_a, now - dt.timedelta(days=19), assignee=cast.sales_a2,
                        deadline_at=now + dt.timedelta(hours=8), next_action_at=now + dt.timedelta(hours=8))
    lead_at(cast.dealer_a, now - dt.timedelta(minutes=1), assignee=cast.sales_a1)  # fresh, still within its 5 minutes
    scope = report_scope(dealers=[cast.dealer_a])
    assert board_counts(scope=scope, now=now)["overdue"] == 1
    assert [lead.pk for lead in overdue_leads(scope=scope, now=now)] == [forgotten.pk]
    html = client_for(cast.manager_a).get("/dashboard/").content.decode()
    assert "Well done" not in html
    overdue_section = html[html.index('id="overdue-title"'):]
    assert escape(str(forgotten.customer)) in overdue_section and "19 d" in overdue_section


def test_reassign_in_one_action(cast):
    lead = lead_at(cast.dealer_a, timezone.now() - dt.timedelta(minutes=20), assignee=cast.sales_a1)
    response = client_for(cast.manager_a).post(f"/dashboard/leads/{lead.pk}/reassign/",
                                                {"to_user": cast.sales_a2.pk, "next": "/dashboard/?scope=dealer"})
    assert response.status_code == 302 and response["Location"] == "/dashboard/?scope=dealer"
    lead.refresh_from_db()
    assert lead.assignee == cast.sales_a2
    assert lead.events.filter(type="assigned", actor=cast.manager_a).exists()


def test_reassign_never_to_another_dealers_user_or_someone_off_duty(cast):
    lead = lead_at(cast.dealer_a, timezone.now(), assignee=cast.sales_a1)
    Membership.objects.filter(user=cast.sales_a2).update(on_duty=False)
    client = client_for(cast.manager_a)
    for to_user in (cast.outsider_b, cast.sales_a2):
        client.post(f"/dashboard/leads/{lead.pk}/reassign/", {"to_user": to_user.pk})
        lead.refresh_from_db()
        assert lead.assignee == cast.sales_a1
    html = client.get("/dashboard/").content.decode()
    assert f'<option value="{cast.outsider_b.pk}"' not in html
    assert f'<option value="{cast.bdc_a.pk}"' in html  # the on-duty BDC agent is a choice


def test_reassigning_another_dealers_lead_is_a_404(cast):
    lead = lead_at(cast.dealer_b, timezone.now())
    response = client_for(cast.manager_a).post(f"/dashboard/leads/{lead.pk}/reassign/", {"to_user": cast.sales_a2.pk})
    assert response.status_code == 404


@pytest.mark.parametrize("who", ["sales_a1", "bdc_a"])
def test_salespeople_and_bdc_agents_are_refused_the_dashboard(cast, who):
    lead = lead_at(cast.dealer_a, timezone.now(), assignee=cast.sales_a1)
    user = getattr(cast, who)
    client = client_for(user)
    assert client.get("/dashboard/").status_code == 403
    assert client.get("/dashboard/export/summary.csv").status_code == 403
    assert client.post(f"/dashboard/leads/{lead.pk}/reassign/", {"to_user": cast.sales_a2.pk}).status_code == 403
    assert team_client(user).get("/api/v1/team/reports/summary/").status_code == 403


def test_another_dealers_manager_gets_a_404(cast):
    client = client_for(cast.outsider_b)
    assert client.get("/dashboard/", {"dealer": "dealer-a"}).status_code == 404
    assert client.get("/dashboard/export/summary.csv", {"dealer": "dealer-a"}).status_code == 404
    assert team_client(cast.outsider_b).get("/api/v1/team/reports/summary/", {"dealer": "dealer-a"}).status_code == 404


def test_a_group_admin_sees_every_rooftop_of_the_group_and_nothing_else(cast, group):
    received = dt.datetime(2026, 3, 10, 10, 0, tzinfo=AMS)
    for _ in range(2):
        lead_at(cast.dealer_a, received, assignee=cast.sales_a1)
    for _ in range(3):
        lead_at(group["dealer_c"], received, assignee=group["sales_c"])
    lead_at(cast.dealer_b, received)
    other_group = DealerGroup.objects.exclude(pk=group["group"].pk).get(dealers=cast.dealer_b)
    response = client_for(group["admin"]).get("/dashboard/", PERIOD)
    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["is_group"] and response.context["report"].summary.leads == 5
    assert [r.leads for r in response.context["report"].dealers] == [3, 2]
    assert "Autobedrijf A" in html and "Autobedrijf C" in html
    assert "Autobedrijf B" not in html and other_group.name not in html
    rows = client_for(group["admin"]).get("/dashboard/export/dealers.csv", {**PERIOD, "scope": "group"})
    text = rows.content.decode("utf-8-sig")
    assert "Autobedrijf C;3;" in text and "Autobedrijf A;2;" in text and "Autobedrijf B" not in text
    assert client_for(group["admin"]).get("/dashboard/", {"dealer": "dealer-b"}).status_code == 404


def test_a_group_admin_can_look_at_one_rooftop(cast, group):
    lead_at(group["dealer_c"], dt.datetime(2026, 3, 10, 10, 0, tzinfo=AMS), assignee=group["sales_c"])
    response = client_for(group["admin"]).get("/dashboard/", {**PERIOD, "scope": "dealer", "dealer": "dealer-c"})
    assert not response.context["is_group"] and response.context["report"].summary.leads == 1


def test_a_rooftop_manager_may_not_ask_for_the_group(cast, group):
    assert client_for(cast.manager_a).get("/dashboard/", {"scope": "group"}).status_code == 403


def test_bad_filters_are_explained_not_crashed_on(cast):
    html = client_for(cast.manager_a).get("/dashboard/", {"from": "2026-04-01", "to": "2026-03-01"}).content.decode()
    assert "The period starts after it ends." in html
    response = client_for(cast.manager_a).get("/dashboard/export/summary.csv", {"from": "2020-01-01", "to": "2026-03-01"})
    assert response.status_code == 400
    assert client_for(cast.manager_a).get("/dashboard/export/nonsense.csv").status_code == 404


def _fill(dealer: Dealer, users, n: int):
    start = dt.datetime(2026, 3, 1, 9, 0, tzinfo=AMS)
    now = timezone.now()
    for i in range(n):
        lead = lead_at(dealer, start + dt.timedelta(hours=7 * i), assignee=users[i % len(users)],
                       source=["marktplaats", "autoscout24", "website"][i % 3], kind=["active", "passive"][i % 2],
                       deadline_at=now - dt.timedelta(minutes=i))
        Escalation.objects.create(dealer=dealer, lead=lead, level=1, action="remind", due_at=lead.deadline_at)


def test_the_dashboard_runs_the_same_number_of_queries_for_few_and_many_leads(cast, group, django_assert_num_queries):
    people = [cast.sales_a1, cast.sales_a2, cast.bdc_a]
    client = client_for(cast.manager_a)
    _fill(cast.dealer_a, people, 3)
    client.get("/dashboard/", PERIOD)  # the session settles on the dealer
    with CaptureQueriesContext(connection) as few:
        assert client.get("/dashboard/", PERIOD).status_code == 200
    _fill(cast.dealer_a, people, 60)
    for i in range(5):
        MembershipFactory(dealer=cast.dealer_a, role=Role.SALESPERSON, user=UserFactory(email=f"extra{i}@a.test"))
    with django_assert_num_queries(len(few)):
        assert client.get("/dashboard/", PERIOD).status_code == 200
    assert len(few) <= 25

    admin = client_for(group["admin"])
    admin.get("/dashboard/", PERIOD)
    with CaptureQueriesContext(connection) as group_few:
        admin.get("/dashboard/", PERIOD)
    _fill(group["dealer_c"], [group["sales_c"]], 40)
    with django_assert_num_queries(len(group_few)):
        assert admin.get("/dashboard/", PERIOD).status_code == 200


def test_the_json_runs_the_same_number_of_queries_for_few_and_many_leads(cast, django_assert_num_queries):
    client = team_client(cast.manager_a)
    _fill(cast.dealer_a, [cast.sales_a1], 2)
    with CaptureQueriesContext(connection) as few:
        client.get("/api/v1/team/reports/summary/", PERIOD)
    _fill(cast.dealer_a, [cast.sales_a1, cast.sales_a2], 50)
    with django_assert_num_queries(len(few)):
        assert client.get("/api/v1/team/reports/summary/", PERIOD).json()["leads"] == 52


def test_each_csv_runs_a_fixed_number_of_queries(cast, django_assert_num_queries):
    client = client_for(cast.manager_a)
    _fill(cast.dealer_a, [cast.sales_a1], 2)
    client.get("/dashboard/export/summary.csv", PERIOD)  # the session settles on the dealer
    counts = {}
    for table in ("summary", "people", "weeks", "speed"):
        with CaptureQueriesContext(connection) as q:
            client.get(f"/dashboard/export/{table}.csv", PERIOD)
        counts[table] = len(q)
    _fill(cast.dealer_a, [cast.sales_a1, cast.sales_a2], 40)
    for table, n in counts.items():
        with django_assert_num_queries(n):
            client.get(f"/dashboard/export/{table}.csv", PERIOD)
