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
    """Worker and beat as separate processes, on this test's database and a Redis database of their own."""
    broker_db = 11 if "gw1" not in os.environ.get("PYTEST_XDIST_WORKER", "") else 10
    broker = f"redis://127.0.0.1:6379/{broker_db}"
    redis.Redis.from_url(broker).flushdb()
    db = settings.DATABASES["default"]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "FOLLOWUP_SWEEP_SECONDS": "1",
           "TEST_DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "TEST_REDIS_URL": broker}
    common = [sys.executable, "-m", "celery", "-A", "config"]
    worker = subprocess.Popen([*common, "worker", "--pool=solo", "--loglevel=WARNING", "--without-heartbeat",
                               "--without-gossip", "--without-mingle"], cwd=ROOT, env=env,
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
    assert wait_for(lambda: Escalation.objects.filter(lead=lead).count() == 3), (
        (logs / "worker.log").read_text()[-3000:] + (logs / "beat.log").read_text()[-2000:])
    assert Escalation.objects.filter(lead=lead, at__lt=due).count() == 0  # nothing early
    time.sleep(4)  # several more beat ticks: still each step exactly once
    assert sorted(Escalation.objects.filter(lead=lead).values_list("level", flat=True)) == [1, 2, 3]
    reminder = Notification.objects.get(lead=lead, kind="reminder")
    assert wait_for(lambda: Notification.objects.get(pk=reminder.pk).email_status == DeliveryStatus.SENT), (
        (logs / "worker.log").read_text()[-3000:])
