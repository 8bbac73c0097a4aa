"""Erasing customers changes no report figure: the summary, every breakdown, the dashboard's CSV."""

import datetime as dt

import pytest
from django.test import Client

from dealers.models import Dealer
from leads.models import Customer, Lead
from reporting.selectors import BRANCHES, ReportFilters, report_rows, report_scope
from tests.conftest import team_client
from tests.reporting.conftest import PERIOD

pytestmark = pytest.mark.django_db
PERIOD_DATES = tuple(dt.date.fromisoformat(PERIOD[k]) for k in ("from", "to"))


def figures(cast) -> dict:
    client = team_client(cast.manager_a)
    summaries = {}
    for params in [{}, {"source": "marktplaats"}, {"source": "autoscout24"}, {"kind": "active"},
                   {"assignee": cast.sales_a1.pk}, {"assignee": cast.sales_a2.pk}]:
        response = client.get("/api/v1/team/reports/summary/", {**PERIOD, **params})
        assert response.status_code == 200, response.content
        summaries[str(params)] = response.json()
    dealer = Dealer.objects.get(pk=cast.dealer_a.pk)
    filters = ReportFilters(date_from=PERIOD_DATES[0], date_to=PERIOD_DATES[1])
    rows = report_rows(scope=report_scope(dealers=[dealer]), filters=filters, breakdowns=sorted(BRANCHES))
    key = sorted(rows[0])
    return {"summaries": summaries, "rows": sorted(tuple(str(r[k]) for k in key) for r in rows)}


def test_every_figure_is_the_same_after_erasing_several_customers(cast, spec_example, person):
    # The person's leads and several of the example's (sold, shown, unreachable, untouched) customers are erased.
    before = figures(cast)
    assert before["summaries"]["{}"]["leads"] == 20 and before["summaries"]["{}"]["sold"] == 2
    chosen = [spec_example.leads[i].customer_id for i in (0, 4, 7, 11, 15, 19)] + [person.customer.pk]
    client = team_client(cast.manager_a)
    for customer_id in chosen:
        assert client.post(f"/api/v1/team/customers/{customer_id}/erase/").status_code == 200
    assert Customer.objects.unscoped().filter(pk__in=chosen, erased_at__isnull=False, email="").count() == len(chosen)
    assert Lead.objects.unscoped().filter(customer_id__in=chosen, anonymised_at__isnull=False).count() == 8
    assert figures(cast) == before


def test_the_dashboard_csv_is_the_same_after_erasing(cast, spec_example):
    client = Client()
    client.force_login(cast.manager_a)

    def csv(table):
        response = client.get(f"/dashboard/export/{table}.csv", PERIOD)
        assert response.status_code == 200
        return response.content

    before = {table: csv(table) for table in ("people", "sources", "weeks")}
    for lead in spec_example.leads[:10]:
        team_client(cast.manager_a).post(f"/api/v1/team/customers/{lead.customer_id}/erase/")
    assert {table: csv(table) for table in ("people", "sources", "weeks")} == before
