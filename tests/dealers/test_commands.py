"""The operator commands of the contract."""

import io

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from dealers.models import ApiKey, Dealer, Membership, User, hash_api_key
from followup.models import Appointment, ContactAttempt
from leads.models import Customer, Lead, LeadEvent

pytestmark = pytest.mark.django_db


def counts():
    models = (Dealer, User, Membership, Customer, Lead, LeadEvent, ContactAttempt, Appointment)
    return {m.__name__: m._base_manager.count() for m in models}


def test_seed_demo_is_idempotent_and_lived_in():
    out = io.StringIO()
    call_command("seed_demo", "--password", "proef-123", stdout=out)
    first = counts()
    call_command("seed_demo", "--password", "proef-123", stdout=io.StringIO())
    assert counts() == first
    assert set(Dealer.objects.values_list("slug", flat=True)) == {"demo-amsterdam", "demo-utrecht"}
    for email in ("manager@demo.test", "sales1@demo.test", "sales2@demo.test", "bdc@demo.test"):
        assert email in out.getvalue()
        assert User.objects.get(email=email).check_password("proef-123")
    statuses = set(Lead.objects.unscoped().filter(dealer__slug="demo-amsterdam").values_list("status", flat=True))
    assert {"new", "contacted", "appointment", "sold", "lost", "unreachable"} <= statuses
    assert Lead.objects.unscoped().filter(kind="passive", queue="bdc").exists()
    assert Customer.objects.unscoped().filter(phone__startswith="+316").exists()


def test_create_api_key_prints_a_working_key_and_stores_only_its_hash(cast):
    out = io.StringIO()
    call_command("create_api_key", "dealer-a", "Marktplaats", stdout=out)
    raw = out.getvalue().strip().splitlines()[-1]
    key = ApiKey.objects.unscoped().get(dealer=cast.dealer_a)
    assert key.source == "marktplaats"
    assert key.key_hash == hash_api_key(raw) and raw not in (key.key_hash, key.prefix)
    assert not ApiKey.objects.unscoped().filter(key_hash=raw).exists()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    response = client.post("/api/v1/leads/", {"customer": {"phone": "06 12345678"}}, format="json")
    assert response.status_code == 201
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_create_api_key_for_an_unknown_dealer_fails_clearly(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No dealer"):
        call_command("create_api_key", "bestaat-niet", "website", stdout=io.StringIO())
