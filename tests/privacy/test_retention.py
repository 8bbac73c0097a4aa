"""Retention by the scheduler: raw submissions go after the dealer's period, inactive leads are anonymised later."""

import datetime as dt

import pytest
import time_machine
from celery.schedules import crontab
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from config.celery_app import app
from dealers.models import AuditEntry
from followup.models import LeadImport, TelephonyEvent
from followup.services import attempt_log
from leads.models import Customer, InboundDocument, Lead
from leads.services import document_store, lead_intake
from privacy.services import privacy_settings_update, retention_run
from privacy.tasks import privacy_retention
from tests.factories import api_key_for, open_all_week

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 1, 10, 10, 0, tzinfo=dt.UTC)


def post(client, email, **extra):
    response = client.post("/api/v1/leads/", {"customer": {"first_name": "Femke", "email": email},
                                              "message": "Bel me maar", **extra}, format="json")
    assert response.status_code == 201, response.content
    return Lead.objects.unscoped().get(pk=response.json()["id"])


@pytest.fixture
def history(cast, portal):
    """At T0: leads with payloads, an ADF document and a call payload; one customer comes back 20 months later."""
    open_all_week(cast.dealer_a)
    with time_machine.travel(T0, tick=False):
        gone = post(portal, "gone@example.nl", vehicle={"make": "Opel", "model": "Corsa", "vin": "W0L000"})
        document = document_store(dealer=cast.dealer_a, source="website", content_type="application/xml",
                                  body=b"<adf><prospect>Femke</prospect></adf>")
        adf = lead_intake(dealer=cast.dealer_a, source="website", document=document, payload={"adf": {"n": "Femke"}},
                          data={"customer": {"email": "adf@example.nl"}}).lead
        TelephonyEvent.objects.create(dealer=cast.dealer_a, event_id="e1", call_id="c1", type="ended",
                                      call_started_at=T0, lead=gone, payload={"from": "+31612345678"})
        back_old = post(portal, "back@example.nl")
        worked = post(portal, "worked@example.nl")
    with time_machine.travel(T0 + dt.timedelta(days=20 * 30), tick=False):
        back_new = post(portal, "back@example.nl")
        attempt_log(lead=worked, by=cast.sales_a1, channel="call", outcome="connected")  # activity on an old lead
    return {"gone": gone, "adf": adf, "back_old": back_old, "back_new": back_new, "worked": worked}


def fresh(lead) -> Lead:
    return Lead.objects.unscoped().select_related("customer").get(pk=lead.pk)


def test_nothing_goes_before_the_period(cast, history):
    with time_machine.travel(T0 + dt.timedelta(days=89), tick=False):
        retention_run()
    assert fresh(history["gone"]).payload and InboundDocument.objects.unscoped().exists()
    assert TelephonyEvent.objects.unscoped().get().payload
    assert not AuditEntry.objects.unscoped().filter(action="privacy.retention").exists()


def test_raw_submissions_go_after_90_days_and_the_leads_stay(cast, history):
    with time_machine.travel(T0 + dt.timedelta(days=91), tick=False):
        retention_run()
    gone = fresh(history["gone"])
    assert gone.payload == {} and fresh(history["adf"]).payload == {} and fresh(history["adf"]).document is None
    assert not InboundDocument.objects.unscoped().exists() and TelephonyEvent.objects.unscoped().get().payload == {}
    # Only the raw copies: the lead, its message and its customer are as they were.
    assert gone.message == "Bel me maar" and gone.customer.email == "gone@example.nl" and gone.anonymised_at is None
    assert Lead.objects.unscoped().count() == 5
    # Four payloads of T0's leads, one document, one call payload.
    entry = AuditEntry.objects.unscoped().get(action="privacy.retention")
    assert entry.actor is None and entry.changes == {"raw_removed": 6, "leads_anonymised": 0, "customers_erased": 0}


def test_inactive_leads_are_anonymised_after_24_months(cast, history):
    with time_machine.travel(T0 + dt.timedelta(days=25 * 30), tick=False):
        retention_run()
    gone, back_old, back_new, worked = (fresh(history[k]) for k in ("gone", "back_old", "back_new", "worked"))
    assert gone.anonymised_at and gone.message == "" and gone.vehicle == {"make": "Opel", "model": "Corsa"}
    assert gone.customer.erased_at and gone.customer.email == "" and gone.customer.first_name == ""
    # A customer who came back keeps their details; only the old lead is anonymised.
    assert back_old.anonymised_at and back_old.message == ""
    assert back_new.anonymised_at is None and back_new.message == "Bel me maar"
    assert back_new.customer.email == "back@example.nl" and back_new.customer.erased_at is None
    # An attempt 20 months after arrival is activity: that lead stays.
    assert worked.anonymised_at is None and worked.customer.email == "worked@example.nl"
    assert Lead.objects.unscoped().count() == 5
    entry = AuditEntry.objects.unscoped().filter(action="privacy.retention").latest("at")
    assert entry.changes["leads_anonymised"] == 3 and entry.changes["customers_erased"] == 2  # gone and adf


def test_a_second_run_changes_nothing(cast, history):
    with time_machine.travel(T0 + dt.timedelta(days=25 * 30), tick=False):
        retention_run()
        entries = AuditEntry.objects.unscoped().filter(action="privacy.retention").count()
        second = retention_run()
    assert AuditEntry.objects.unscoped().filter(action="privacy.retention").count() == entries
    assert all(not any(r["raw"].values()) and not r["leads_anonymised"] and not r["customers_erased"] for r in second)


def test_each_dealer_uses_its_own_periods(cast, history):
    client_b = APIClient()
    client_b.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(cast.dealer_b)}")
    with time_machine.travel(T0, tick=False):
        in_b = post(client_b, "b@example.nl")
    privacy_settings_update(dealer=cast.dealer_b, by=cast.outsider_b, changes={"raw_retention_days": 30})
    with time_machine.travel(T0 + dt.timedelta(days=31), tick=False):
        retention_run()
    assert fresh(in_b).payload == {} and fresh(history["gone"]).payload != {}


def test_the_command_runs_the_same_code(cast, history, capsys):
    with time_machine.travel(T0 + dt.timedelta(days=25 * 30), tick=False):
        call_command("privacy_retention", "dealer-a")
    out = capsys.readouterr().out
    assert "dealer-a: raw removed" in out and "3 lead(s) anonymised; 2 customer(s) erased." in out
    assert Customer.objects.unscoped().filter(erased_at__isnull=False).count() == 2


def test_the_command_refuses_an_unknown_dealer(cast):
    with pytest.raises(CommandError):
        call_command("privacy_retention", "nope")


def test_the_daily_task_is_registered_with_beat_and_runs(cast, history):
    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "privacy.tasks.privacy_retention")
    assert isinstance(entry["schedule"], crontab)
    assert entry["schedule"].hour == {3} and len(entry["schedule"].minute) == 1  # once a day
    app.loader.import_default_modules()
    assert "privacy.tasks.privacy_retention" in app.tasks
    with time_machine.travel(T0 + dt.timedelta(days=91), tick=False):
        assert privacy_retention.apply().get() == 2  # both dealers visited
    assert fresh(history["gone"]).payload == {}


def test_an_old_csv_import_loses_its_file_and_the_rows_it_quotes(cast):
    with time_machine.travel(T0, tick=False):
        kept = LeadImport.objects.create(dealer=cast.dealer_a, file_sha256="0" * 64, content=b"naam;email\nFemke;f@x.nl",
                                         summary={"ok": True, "data_rows": 1, "errors": ["rij 2: f@x"],
                                                  "sample": [{"row": 2, "data": {"naam": "Femke"}}]})
    with time_machine.travel(T0 + dt.timedelta(days=91), tick=False):
        retention_run()
    kept.refresh_from_db()
    assert bytes(kept.content) == b"" and kept.summary == {"ok": True, "data_rows": 1}
