"""Retries and resends that arrive at the same moment still make one lead (real PostgreSQL, real threads)."""

import threading

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from leads.models import InboundMail, Lead, Notification
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



def test_a_pick_waiting_on_the_dealers_lock_counts_the_lead_committed_while_it_waited(cast):
    """The lock and the count go to PostgreSQL in one message (`round_robin_seats(lock=True)`): the count must still
    be taken after the lock is granted, seeing the lead the holder committed meanwhile, not before."""
    import time

    from django.db import transaction

    from routing.services import round_robin_seats
    from tests.factories import LeadFactory

    dealer = cast.dealer_a
    held, counted = threading.Event(), {}

    def holder():
        try:
            with transaction.atomic():
                round_robin_seats(dealer_ids=[dealer.pk], lock=True)
                LeadFactory(dealer=dealer, assignee=cast.sales_a1)
                held.set()
                time.sleep(0.5)  # the other pick is now waiting on the lock
        finally:
            connection.close()

    def waiter():
        held.wait(10)
        try:
            with transaction.atomic():
                seats = round_robin_seats(dealer_ids=[dealer.pk], lock=True)[dealer.pk]
                counted.update({seat.user.pk: seat.open_leads for seat in seats})
        finally:
            connection.close()

    threads = [threading.Thread(target=holder), threading.Thread(target=waiter)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert counted == {cast.sales_a1.pk: 1, cast.sales_a2.pk: 0}


def mails_at_once(raw_key: str, mails: list[bytes]) -> list[tuple[int, dict]]:
    """POST each raw mail from its own thread, released together: (status, first lead of the answer) per mail."""
    barrier, lock, answers = threading.Barrier(len(mails)), threading.Lock(), []

    def worker(raw):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
        barrier.wait()
        try:
            response = client.generic("POST", "/api/v1/leads/mail/", raw, content_type="message/rfc822")
            with lock:
                answers.append((response.status_code, response.json()["leads"][0]))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(raw,)) for raw in mails]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return answers


def test_a_portal_mail_and_its_resend_arriving_at_the_same_moment_make_one_lead(cast):
    """The resend (another Message-ID, the same buyer and ad) waits for the first mail's lead, then joins it."""
    open_all_week(cast.dealer_a)
    raw_key = api_key_for(cast.dealer_a, source="mailforward")
    mails = [(settings.BASE_DIR.parent / "shared" / "fixtures" / "mail" / "16-autoscout24-lead.eml").read_bytes(),
             (settings.BASE_DIR / "tests" / "fixtures" / "mail" / "nl-07-autoscout24-resend.eml").read_bytes()]
    for _round in range(3):  # the race is a matter of timing: three rounds, each must make exactly one lead
        answers = mails_at_once(raw_key, mails)
        assert [status for status, _lead in answers] == [201, 201]
        assert Lead.objects.unscoped().count() == 1
        assert sorted(lead["duplicate"] for _status, lead in answers) == [False, True]
        InboundMail.objects.unscoped().all().delete()
        Lead.objects.unscoped().all().delete()
