"""A real Celery worker and beat against Redis: the scheduled sweep escalates a due lead exactly once,
and the assignee's notice is delivered by the worker."""

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from dealers.services import policy_get
from followup.models import Escalation
from leads.models import DeliveryStatus, Notification
from tests.factories import LeadFactory, open_all_week

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def celery_processes(tmp_path):
    """Worker and beat as separate processes, on this test's database and this test process's Redis database, so the
    tasks the test enqueues reach them (and nothing left from earlier tests does: the database is emptied first)."""
    broker = settings.CELERY_BROKER_URL
    redis.Redis.from_url(broker).flushdb()
    db = settings.DATABASES["default"]
    env = {**{k: v for k, v in os.environ.items() if k != "PYTEST_XDIST_WORKER"},  # this exact Redis database
           "DJANGO_SETTINGS_MODULE": "config.settings.test", "FOLLOWUP_SWEEP_SECONDS": "1",
           "TEST_DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "TEST_REDIS_URL": broker}
    common = [sys.executable, "-m", "celery", "-A", "config"]
    worker = subprocess.Popen([*common, "worker", "-Q", "celery,timers", "--pool=solo", "--loglevel=WARNING",
                               "--without-heartbeat", "--without-gossip", "--without-mingle"], cwd=ROOT, env=env,
                              stdout=open(tmp_path / "worker.log", "w"), stderr=subprocess.STDOUT)
    beat = subprocess.Popen([*common, "beat", "--loglevel=WARNING", f"--schedule={tmp_path / 'beat-schedule'}"], cwd=ROOT,
                            env=env, stdout=open(tmp_path / "beat.log", "w"), stderr=subprocess.STDOUT)
    yield tmp_path
    for process in (beat, worker):
        process.send_signal(signal.SIGTERM)
    for process in (beat, worker):
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_for(condition, timeout=40.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    return False


def test_beat_and_worker_escalate_once_and_deliver_the_notice(cast, celery_processes):
    open_all_week(cast.dealer_a)
    policy = policy_get(dealer=cast.dealer_a)
    policy.remind_after_minutes = policy.manager_alert_after_minutes = policy.reassign_after_minutes = 0
    policy.save()
    due = timezone.now() + dt.timedelta(seconds=3)
    lead = LeadFactory(dealer=cast.dealer_a, assignee=cast.sales_a1, deadline_at=due, next_action_at=due,
                       first_response_due_at=due)
    connection.close()  # let the worker see committed rows without our idle connection in the way
    logs = celery_processes
    assert wait_for(lambda: Escalation.objects.unscoped().filter(lead=lead).count() == 3), (
        (logs / "worker.log").read_text()[-3000:] + (logs / "beat.log").read_text()[-2000:])
    assert Escalation.objects.unscoped().filter(lead=lead, at__lt=due).count() == 0  # nothing early
    time.sleep(4)  # several more beat ticks: still each step exactly once
    assert sorted(Escalation.objects.unscoped().filter(lead=lead).values_list("level", flat=True)) == [1, 2, 3]
    reminder = Notification.objects.unscoped().get(lead=lead, kind="reminder")
    assert wait_for(lambda: Notification.objects.unscoped().get(pk=reminder.pk).email_status == DeliveryStatus.SENT), (
        (logs / "worker.log").read_text()[-3000:])


def test_the_worker_checks_and_then_imports_an_uploaded_file(cast, celery_processes):
    from followup.imports import import_confirm, import_upload
    from followup.models import ImportStatus, LeadImport
    from leads.models import Lead

    content = b"external_id;voornaam;e-mail;reden\nLC-1;Jan;jan@example.nl;lease\nLC-2;Sanne;sanne@example.nl;service\n"
    lead_import = import_upload(dealer=cast.dealer_a, by=cast.manager_a, content=content, filename="lease.csv")
    connection.close()
    logs = celery_processes
    assert wait_for(lambda: LeadImport.objects.unscoped().get(pk=lead_import.pk).status == ImportStatus.CHECKED), (
        (logs / "worker.log").read_text()[-3000:])
    assert not Lead.objects.unscoped().exists()  # checked, not imported: the manager has not confirmed yet
    assert import_confirm(lead_import=lead_import)
    connection.close()
    assert wait_for(lambda: LeadImport.objects.unscoped().get(pk=lead_import.pk).status == ImportStatus.DONE), (
        (logs / "worker.log").read_text()[-3000:])
    assert Lead.objects.unscoped().filter(dealer=cast.dealer_a, kind="passive").count() == 2
