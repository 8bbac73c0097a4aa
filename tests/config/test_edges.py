"""Issue 16, defect 6: what every response and every enqueue shares (pages not cached, a dead broker costs nothing)."""

import time

import pytest
from celery import Celery
from django.urls import reverse

from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_pages_with_customer_data_are_not_stored_by_the_browser(client, cast):
    lead = LeadFactory(dealer=cast.dealer_a, assignee=cast.sales_a1)
    client.force_login(cast.sales_a1)
    for url in (reverse("inbox"), reverse("lead_detail", args=[lead.pk])):
        response = client.get(url)
        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]


def test_an_enqueue_with_the_broker_down_fails_fast(settings):
    """The project's Celery settings, with a broker nobody listens on: one quick try, not 0.64 s of retries."""
    app = Celery("edge-test")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    took = []
    for _ in range(3):
        started = time.perf_counter()
        with pytest.raises(Exception):  # noqa: B017 - kombu's OperationalError; the caller (task_enqueue) logs any
            app.send_task("leads.tasks.outbox_flush")
        took.append(time.perf_counter() - started)
    assert min(took) < 0.1, took
