"""The manager's privacy pages: find a customer, download the export, erase with a confirmation step, retention."""

import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dealers.models import AuditEntry
from leads.models import Customer
from privacy.models import PrivacySettings
from tests.factories import CustomerFactory, LeadFactory

from .conftest import PERSONAL

pytestmark = pytest.mark.django_db


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_manager_finds_a_customer_by_name_email_or_phone(cast, person):
    client = browser(cast.manager_a)
    url = reverse("privacy_customers")
    CustomerFactory(dealer=cast.dealer_b, first_name="Jozefien", last_name="Vlasblom", email="j.vlasblom@example.nl")
    for query in ["vlasblom", "Jozefien Vlasblom", "J.VLASBLOM@example.nl", "06 41234567", "+31641234567"]:
        html = client.get(url, {"q": query}).content.decode()
        assert html.count(reverse("privacy_customer", args=[person.customer.pk])) == 1, query
        assert "2 leads" in html
    assert "Nobody found" in client.get(url, {"q": "Zwaanswijk Jozefien"}).content.decode()


@pytest.mark.parametrize("query", ["\x00", "x" * 5000, "%", "' OR 1=1 --", "😀" * 50])
def test_hostile_searches_are_answered(cast, query):
    assert browser(cast.manager_a).get(reverse("privacy_customers"), {"q": query}).status_code in (200, 400)


def test_the_search_runs_the_same_queries_for_3_and_30_customers(cast, django_assert_max_num_queries):
    client = browser(cast.manager_a)
    url = reverse("privacy_customers")

    def make(n, start):
        for i in range(start, start + n):
            LeadFactory(dealer=cast.dealer_a, customer__last_name=f"Visser{i}", customer__email=f"visser{i}@example.nl")

    make(3, 0)
    client.get(url, {"q": "visser"})
    with CaptureQueriesContext(connection) as few:
        assert client.get(url, {"q": "visser"}).status_code == 200
    make(27, 3)
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = client.get(url, {"q": "visser"}).content.decode()
    assert html.count("visser") >= 30


def test_export_download_is_json_attachment_and_not_cached(cast, person):
    response = browser(cast.manager_a).get(reverse("privacy_customer_export", args=[person.customer.pk]))
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"] == f'attachment; filename="customer-{person.customer.pk}.json"'
    assert "no-store" in response["Cache-Control"]
    body = json.loads(response.content)
    assert body["customer"]["email"] == "j.vlasblom@example.nl" and len(body["leads"]) == 2
    assert AuditEntry.objects.unscoped().filter(action="customer.exported", actor=cast.manager_a).count() == 1


def test_erasing_takes_a_confirmation(cast, person):
    client = browser(cast.manager_a)
    detail = client.get(reverse("privacy_customer", args=[person.customer.pk]))
    assert "no-store" in detail["Cache-Control"] and "Ja, ik wil aanbiedingen ontvangen." in detail.content.decode()
    url = reverse("privacy_customer_erase", args=[person.customer.pk])
    assert "cannot be undone" in client.get(url).content.decode()
    unconfirmed = client.post(url, {})
    assert unconfirmed.status_code == 200 and "Tick the box to confirm." in unconfirmed.content.decode()
    assert Customer.objects.unscoped().get(pk=person.customer.pk).erased_at is None
    done = client.post(url, {"confirm": "on"}, follow=True)
    assert done.redirect_chain[-1][0] == reverse("privacy_customer", args=[person.customer.pk])
    html = done.content.decode()
    assert "Erased on" in html
    for text in PERSONAL:
        assert text not in html
    assert AuditEntry.objects.unscoped().filter(action="customer.erased", actor=cast.manager_a).count() == 1


@pytest.mark.parametrize("name", ["privacy_customer", "privacy_customer_export", "privacy_customer_erase"])
def test_another_dealers_customer_is_404_on_every_page(cast, person, name):
    url = reverse(name, args=[person.customer.pk])
    client = browser(cast.outsider_b)
    assert client.get(url).status_code == 404
    assert client.get(url, {"dealer": "dealer-a"}).status_code == 404
    assert client.post(url, {"confirm": "on"}).status_code in (404, 405)
    assert Customer.objects.unscoped().get(pk=person.customer.pk).erased_at is None


@pytest.mark.parametrize("who", ["sales_a1", "bdc_a"])
@pytest.mark.parametrize("name", ["privacy_customers", "privacy_settings", "privacy_customer", "privacy_customer_erase"])
def test_other_roles_are_refused(cast, person, who, name):
    args = [person.customer.pk] if name in ("privacy_customer", "privacy_customer_erase") else []
    client = browser(getattr(cast, who))
    assert client.get(reverse(name, args=args)).status_code == 403
    if name == "privacy_customer_erase":
        assert client.post(reverse(name, args=args), {"confirm": "on"}).status_code == 403
        assert Customer.objects.unscoped().get(pk=person.customer.pk).erased_at is None


def test_the_retention_page_saves_and_validates_in_one_place(cast):
    client = browser(cast.manager_a)
    url = reverse("privacy_settings")
    assert 'value="90"' in client.get(url).content.decode()
    assert client.post(url, {"raw_retention_days": "60", "inactive_lead_months": "12"}).status_code == 302
    row = PrivacySettings.objects.unscoped().get(dealer=cast.dealer_a)
    assert (row.raw_retention_days, row.inactive_lead_months) == (60, 12)
    refused = client.post(url, {"raw_retention_days": "900", "inactive_lead_months": "12"})
    assert refused.status_code == 200 and "at least as long as the raw-submission period" in refused.content.decode()
    assert PrivacySettings.objects.unscoped().get(dealer=cast.dealer_a).raw_retention_days == 60
    assert client.post(url, {"raw_retention_days": "-1", "inactive_lead_months": "x"}).status_code == 200
    audit = browser(cast.manager_a).get(reverse("settings:audit")).content.decode()
    assert "Retention periods changed" in audit


def test_the_settings_menu_links_the_privacy_pages(cast):
    html = browser(cast.manager_a).get(reverse("settings:overview")).content.decode()
    assert reverse("privacy_customers") in html


def test_dutch_pages(cast, person):
    client = browser(cast.manager_a)
    client.cookies["django_language"] = "nl"
    html = client.get(reverse("privacy_customer_erase", args=[person.customer.pk]), HTTP_ACCEPT_LANGUAGE="nl").content.decode()
    assert "De persoonsgegevens van deze klant wissen?" in html and "Ja, wissen" in html
    assert "Toestemming voor marketing" in html and "Gegeven" in html


def test_the_erased_persons_leads_still_open_without_their_data(cast, person):
    browser(cast.manager_a).post(reverse("privacy_customer_erase", args=[person.customer.pk]), {"confirm": "on"})
    client = browser(cast.manager_a)
    for lead in person.leads:
        response = client.get(reverse("lead_detail", args=[lead.pk]))
        assert response.status_code == 200
        html = response.content.decode()
        for text in PERSONAL:
            assert text not in html
    assert client.get(reverse("dashboard")).status_code == 200
    assert browser(lead.assignee).get(reverse("inbox")).status_code == 200
