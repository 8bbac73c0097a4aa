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


def test_the_demo_is_believable():
    """Appointments in opening hours, first attempts minutes after the clock starts, and notices that carry their
    lead's time: the demo opens with a few fresh notices, not a burst of e-mails stamped now."""
    import statistics

    from dealers.hours import OpeningSchedule
    from leads.models import Notification

    call_command("seed_demo", stdout=io.StringIO())
    amsterdam = Dealer.objects.get(slug="demo-amsterdam")
    schedule = OpeningSchedule.for_dealer(amsterdam)
    appointments = Appointment.objects.for_dealer(amsterdam)
    assert appointments.exists() and all(schedule.is_open(a.scheduled_at) for a in appointments)
    leads = Lead.objects.for_dealer(amsterdam).filter(first_contact_at__isnull=False, clock_started_at__isnull=False)
    speeds = [(lead.first_contact_at - lead.clock_started_at).total_seconds() for lead in leads]
    assert all(s >= 0 for s in speeds) and 60 <= statistics.median(speeds) <= 30 * 60
    notices = Notification.objects.for_dealer(amsterdam)
    assert notices.filter(read_at__isnull=True).count() < 20
    assert notices.exclude(email_status="skipped").count() < 20  # what the outbox will mail when the demo starts
    assert all(n.created_at >= n.lead.received_at for n in notices.select_related("lead") if n.lead)


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
