"""One dealer never sees another's data: admin, pages and API keys."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from dealers.access import dealer_accesses, is_group_admin, resolve_dealer_access
from dealers.models import ApiKey, Membership, Role
from dealers.services import group_admin_grant
from dealers.tenancy import ScopeRequired, TenantManager
from tests.factories import DealerFactory, LeadFactory, MembershipFactory, UserFactory, api_key_for, make_group_admin

pytestmark = pytest.mark.django_db


def test_a_user_working_for_two_dealers_can_switch_between_them(cast, client):
    MembershipFactory(user=cast.sales_a1, dealer=DealerFactory(group=cast.dealer_a.group, slug="dealer-a2"))
    assert [a.dealer.slug for a in dealer_accesses(cast.sales_a1)] == ["dealer-a", "dealer-a2"]
    client.force_login(cast.sales_a1)
    response = client.post(reverse("switch_dealer"), {"dealer": "dealer-a2", "next": "/"})
    assert response.status_code == 302
    assert client.session["dealer_slug"] == "dealer-a2"


def test_a_dealer_in_the_query_string_is_for_that_request_only(cast, client):
    """Switching dealer is the explicit POST above; following a link with ?dealer= never changes the session."""
    MembershipFactory(user=cast.sales_a1, dealer=DealerFactory(group=cast.dealer_a.group, slug="dealer-a2"))
    client.force_login(cast.sales_a1)
    client.post(reverse("switch_dealer"), {"dealer": "dealer-a", "next": "/"})
    assert client.get("/inbox/?dealer=dealer-a2").status_code == 200
    assert client.session["dealer_slug"] == "dealer-a"
    assert client.get("/inbox/?dealer=dealer-b").status_code == 404
    assert client.session["dealer_slug"] == "dealer-a"


def test_switching_to_a_dealer_you_do_not_work_for_is_404(cast, client):
    client.force_login(cast.sales_a1)
    assert client.post(reverse("switch_dealer"), {"dealer": "dealer-b"}).status_code == 404
    with pytest.raises(Exception) as excinfo:
        resolve_dealer_access(cast.sales_a1, "dealer-b")
    assert "Http404" in type(excinfo.value).__name__


def test_group_admin_sees_every_rooftop_of_the_group_and_no_other_group(cast):
    sister = DealerFactory(group=cast.dealer_a.group, slug="dealer-a-zuid")
    admin = UserFactory(email="groep@a.test")
    make_group_admin(cast.dealer_a, admin)
    slugs = {a.dealer.slug for a in dealer_accesses(admin)}
    assert slugs == {"dealer-a", sister.slug}
    assert all(a.role == Role.GROUP_ADMIN for a in dealer_accesses(admin))


def test_group_admin_rights_come_from_the_membership_alone(cast):
    """One source of truth: deactivating the group-admin membership takes every rooftop of the group away."""
    sister = DealerFactory(group=cast.dealer_a.group, slug="dealer-a-zuid")
    admin = UserFactory(email="groep@a.test")
    make_group_admin(sister, admin)
    assert is_group_admin(user=admin, group_id=cast.dealer_a.group_id)
    assert not is_group_admin(user=admin, group_id=cast.dealer_b.group_id)
    Membership.objects.filter(user=admin).update(is_active=False)
    assert dealer_accesses(admin) == [] and not is_group_admin(user=admin, group_id=cast.dealer_a.group_id)


def test_granting_group_admin_reuses_a_membership_in_the_group(cast):
    membership = group_admin_grant(group=cast.dealer_a.group, user=cast.sales_a1, by=cast.manager_a)
    assert membership.dealer == cast.dealer_a and membership.role == Role.GROUP_ADMIN
    assert Membership.objects.filter(user=cast.sales_a1).count() == 1
    assert group_admin_grant(group=cast.dealer_a.group, user=cast.sales_a1).pk == membership.pk


def test_outsourced_bdc_agent_reaches_only_contracted_dealers_as_bdc(cast):
    from dealers.models import BdcCompany

    agent = UserFactory(email="agent@bdc-bedrijf.test")
    company = BdcCompany.objects.create(name="Belteam BV", slug="belteam")
    company.agents.add(agent)
    company.dealers.add(cast.dealer_a)
    accesses = dealer_accesses(agent)
    assert [(a.dealer.slug, a.role, a.via_bdc_company) for a in accesses] == [("dealer-a", Role.BDC_AGENT, True)]


def test_a_view_that_overrides_get_queryset_cannot_be_defined():
    from dealers.api import TeamAPIView

    with pytest.raises(TypeError, match="get_scoped_queryset"):
        type("LeakyView", (TeamAPIView,), {"get_queryset": lambda self: None})


# --- admin -----------------------------------------------------------------------------------------------

def test_manager_sees_only_own_dealer_in_admin(cast, client):
    client.force_login(cast.manager_a)
    page = client.get(reverse("admin:dealers_membership_changelist"))
    assert page.status_code == 200
    body = page.content.decode()
    assert str(cast.sales_a1) in body
    assert "Autobedrijf B" not in body and str(cast.outsider_b) not in body


def test_outsider_gets_404_on_another_dealers_admin_objects(cast, client):
    client.force_login(cast.outsider_b)
    membership = Membership.objects.get(user=cast.sales_a1)
    assert client.get(reverse("admin:dealers_membership_change", args=[membership.pk])).status_code == 404
    assert client.get(reverse("admin:dealers_dealer_change", args=[cast.dealer_a.pk])).status_code == 404
    api_key_for(cast.dealer_a)
    key = ApiKey.objects.unscoped().get(dealer=cast.dealer_a)
    assert client.get(reverse("admin:dealers_apikey_change", args=[key.pk])).status_code == 404


def test_admin_dropdowns_only_offer_own_dealer(cast, client):
    client.force_login(cast.manager_a)
    page = client.get(reverse("admin:dealers_apikey_add")).content.decode()
    assert "Autobedrijf A" in page and "Autobedrijf B" not in page


def test_salesperson_has_no_admin(cast, client):
    client.force_login(cast.sales_a1)
    assert client.get(reverse("admin:index")).status_code == 302  # to the admin login: not staff


def test_superuser_sees_everything(cast, client):
    client.force_login(UserFactory(email="root@opvolger.test", is_superuser=True, is_staff=True))
    body = client.get(reverse("admin:dealers_membership_changelist")).content.decode()
    assert str(cast.sales_a1) in body and str(cast.outsider_b) in body


# --- API keys ----------------------------------------------------------------------------------------------

def test_a_key_of_dealer_b_authenticates_as_b_only(cast):
    lead_a = LeadFactory(dealer=cast.dealer_a, source="website")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(cast.dealer_b)}")
    assert client.get(f"/api/v1/leads/{lead_a.pk}/").status_code == 404
    created = client.post("/api/v1/leads/", {"customer": {"email": "piet@example.nl"}}, format="json")
    assert created.status_code == 201
    from leads.models import Lead

    assert Lead.objects.unscoped().get(pk=created.json()["id"]).dealer == cast.dealer_b


def test_revoked_and_unknown_keys_are_401(cast):
    from dealers.services import api_key_revoke

    raw = api_key_for(cast.dealer_a)
    api_key_revoke(api_key=ApiKey.objects.unscoped().get(dealer=cast.dealer_a))
    for header in (f"Api-Key {raw}", "Api-Key opv_nope_nope", "Bearer something", ""):
        client = APIClient()
        if header:
            client.credentials(HTTP_AUTHORIZATION=header)
        response = client.post("/api/v1/leads/", {"customer": {"email": "a@b.nl"}}, format="json")
        assert response.status_code == 401, header
        assert response["Content-Type"] == "application/problem+json"


# --- the scope fails closed ------------------------------------------------------------------------------

def _tenant_models():
    from django.apps import apps

    return [m for m in apps.get_models() if isinstance(m._default_manager, TenantManager)]


def test_every_tenant_model_refuses_to_query_without_a_scope():
    models = _tenant_models()
    assert {m.__name__ for m in models} >= {"Lead", "Customer", "LeadEvent", "Notification", "ContactAttempt", "Appointment",
                                            "Escalation", "InboundDocument", "IdempotencyKey", "ApiKey", "AuditEntry"}
    for model in models:
        for query in (lambda m: m.objects.all(), lambda m: m.objects.filter(pk=1), lambda m: m.objects.count(),
                      lambda m: m.objects.get(pk=1), lambda m: m.objects.exists()):
            with pytest.raises(ScopeRequired):
                query(model)


def test_every_tenant_table_carries_its_dealer():
    for model in _tenant_models():
        field = model._meta.get_field("dealer")
        assert not field.null, model


def test_a_scoped_query_sees_only_its_dealer_and_related_managers_stay_open(cast):
    from leads.models import Lead

    mine, theirs = LeadFactory(dealer=cast.dealer_a), LeadFactory(dealer=cast.dealer_b)
    assert list(Lead.objects.for_dealer(cast.dealer_a)) == [mine]
    assert list(Lead.objects.for_dealers([cast.dealer_b.pk])) == [theirs]
    assert Lead.objects.unscoped().count() == 2
    assert list(mine.events.all()) == list(mine.events.filter(dealer=cast.dealer_a))  # scoped by its parent row
    assert cast.dealer_a.leads.get() == mine
    with pytest.raises(ScopeRequired):
        Lead.objects.for_dealer(None)
