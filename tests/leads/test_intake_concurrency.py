"""Retries that arrive at the same moment still make one lead (real PostgreSQL, real threads)."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from leads.models import Lead, Notification
from tests.factories import api_key_for, open_all_week

pytestmark = pytest.mark.django_db(transaction=True)


def hammer(raw_key: str, body: dict, n: int, headers: dict | None = None) -> list[int]:
    barrier = threading.Barrier(n)
    statuses: list[int] = []
    lock = threading.Lock()

    def worker():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
        barrier.wait()
        try:
            response = client.post("/api/v1/leads/", body, format="json", **(headers or {}))
            with lock:
                statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def test_twelve_identical_posts_make_one_lead(cast):
    open_all_week(cast.dealer_a)
    raw = api_key_for(cast.dealer_a)
    statuses = hammer(raw, {"external_id": "MP-1", "customer": {"email": "jan@example.nl"}}, 12)
    assert sorted(statuses) == [200] * 11 + [201]
    assert Lead.objects.unscoped().count() == 1
    assert Notification.objects.unscoped().count() == 1


def test_twelve_posts_with_one_idempotency_key_make_one_lead(cast):
    open_all_week(cast.dealer_a)
    raw = api_key_for(cast.dealer_a)
    statuses = hammer(raw, {"customer": {"email": "jan@example.nl"}}, 12, {"HTTP_IDEMPOTENCY_KEY": "retry-7"})
    assert sorted(statuses) == [200] * 11 + [201]
    assert Lead.objects.unscoped().count() == 1


def test_simultaneous_different_leads_are_spread_over_the_salespeople(cast):
    open_all_week(cast.dealer_a)
    raw = api_key_for(cast.dealer_a)
    barrier = threading.Barrier(10)

    def worker(i):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
        barrier.wait()
        try:
            client.post("/api/v1/leads/", {"external_id": f"L{i}", "customer": {"email": f"k{i}@example.nl"}}, format="json")
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(10)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    per_person = sorted(Lead.objects.unscoped().filter(assignee__isnull=False).values_list("assignee_id", flat=True))
    assert len(per_person) == 10
    assert per_person.count(cast.sales_a1.pk) == per_person.count(cast.sales_a2.pk) == 5
