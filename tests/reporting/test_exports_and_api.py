"""The CSV opens in Dutch Excel as it should; the JSON endpoint validates its input and is documented."""

import datetime as dt

import pytest
from django.test import Client

from reporting.csv import excel_cell
from tests.conftest import team_client

from .conftest import AMS, PERIOD, lead_at

pytestmark = pytest.mark.django_db


def test_csv_is_excel_nl_friendly(cast, spec_example):
    client = Client()
    client.force_login(cast.manager_a)
    response = client.get("/dashboard/export/summary.csv", PERIOD)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="dealer-a-summary-2026-03-01-2026-03-31.csv"'
    raw = response.content
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    lines = raw.decode("utf-8-sig").split("\r\n")
    assert lines[0].startswith("Name;Leads;Contacted;Appointments;Shown;Sold;Contact rate;")
    assert ";0,6667;" in lines[1] and "." not in lines[1].split(";", 1)[1]  # decimal commas only
    assert lines[-1] == ""


def test_a_source_that_looks_like_a_formula_stays_text(cast):
    lead_at(cast.dealer_a, dt.datetime(2026, 3, 10, 10, 0, tzinfo=AMS), assignee=cast.sales_a1, source="=HYPERLINK(1)")
    client = Client()
    client.force_login(cast.manager_a)
    text = client.get("/dashboard/export/sources.csv", PERIOD).content.decode("utf-8-sig")
    assert "\r\n'=HYPERLINK(1);1;" in text


@pytest.mark.parametrize(("value", "text"), [
    (0.382, "0,382"), (0.6667, "0,6667"), (1.0, "1"), (None, ""), (1398, "1398"), (dt.date(2026, 3, 2), "2026-03-02"),
    ("-1", "'-1"), ("Sanne Bakker", "Sanne Bakker"),
])
def test_excel_cells(value, text):
    assert excel_cell(value) == text


@pytest.mark.parametrize("params", [
    {"from": "2026-03-31", "to": "2026-03-01"},
    {"from": "morgen"},
    {"kind": "lukewarm"},
    {"assignee": "iemand"},
    {"from": "2020-01-01", "to": "2026-01-01"},
])
def test_bad_input_is_a_problem_400(cast, params):
    response = team_client(cast.manager_a).get("/api/v1/team/reports/summary/", params)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"]


def test_the_default_period_is_the_last_30_days(cast):
    body = team_client(cast.manager_a).get("/api/v1/team/reports/summary/").json()
    start, end = dt.date.fromisoformat(body["period"]["from"]), dt.date.fromisoformat(body["period"]["to"])
    assert (end - start).days == 29


def test_a_group_admin_gets_the_json_per_rooftop(cast):
    from tests.factories import UserFactory, make_group_admin

    admin = UserFactory(email="groep@a.test")
    make_group_admin(cast.dealer_a, admin)
    lead_at(cast.dealer_a, dt.datetime(2026, 3, 10, 10, 0, tzinfo=AMS), assignee=cast.sales_a1)
    response = team_client(admin).get("/api/v1/team/reports/summary/", {**PERIOD, "dealer": "dealer-a"})
    assert response.status_code == 200 and response.json()["leads"] == 1
    assert team_client(admin).get("/api/v1/team/reports/summary/", {"dealer": "dealer-b"}).status_code == 404


def test_the_endpoint_is_in_the_openapi_schema(cast):
    schema = Client().get("/api/v1/schema/", HTTP_ACCEPT="application/json").content.decode()
    assert "/api/v1/team/reports/summary/" in schema
    assert "first_attempt_within_deadline" in schema and "closed_unreachable_below_minimum" in schema


@pytest.mark.parametrize("params", [{"to": "0001-01-01"}, {"from": "9999-12-31", "to": "9999-12-31"}, {"to": "1999-12-31"}])
def test_extreme_dates_are_refused_not_a_500(cast, params):
    assert team_client(cast.manager_a).get("/api/v1/team/reports/summary/", params).status_code == 400
