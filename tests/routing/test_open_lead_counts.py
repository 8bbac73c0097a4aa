"""The round-robin's running count of open leads (`OpenLeadCount`, kept by PostgreSQL triggers): after every kind of
change to the leads it says what counting them would, folding keeps every change once, and the round-robin folds a
dealer's rows once they pile up."""

import threading

import pytest
from django.db import connection, connections, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from followup.services import lead_close
from leads.models import Lead
from routing.models import OpenLeadCount
from routing.services import (
    FOLD_AFTER,
    lead_reassign,
    open_lead_counts_fold,
    open_lead_counts_fold_piled_up,
    open_lead_counts_off,
    open_lead_counts_true_up,
    salesperson_pick,
)
from routing.tasks import open_lead_counts_tend
from tests.factories import DealerFactory, LeadFactory, MembershipFactory, UserFactory, open_all_week

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the triggers are PostgreSQL's")


def kept(dealer) -> dict[int, int]:
    """The open leads per person as the count rows say (people at zero left out)."""
    sums = OpenLeadCount.objects.for_dealer(dealer).values("user_id").annotate(n=Sum("open_leads"))
    return {row["user_id"]: row["n"] for row in sums if row["n"]}


def counted(dealer) -> dict[int, int]:
    """The open leads per person, counted."""
    rows = (Lead.objects.for_dealer(dealer).filter(closed_at__isnull=True, assignee__isnull=False)
            .values("assignee_id").annotate(n=Count("pk")))
    return {row["assignee_id"]: row["n"] for row in rows}


def rows_of(dealer) -> int:
    return OpenLeadCount.objects.for_dealer(dealer).count()


@pytest.fixture
def team():
    dealer = DealerFactory()
    open_all_week(dealer)
    manager = MembershipFactory(dealer=dealer, role="manager", user=UserFactory()).user
    sales = [MembershipFactory(dealer=dealer, user=UserFactory()).user for _ in range(3)]
    return dealer, manager, sales


@pytest.mark.django_db
def test_every_change_of_a_lead_keeps_the_count_right(team):
    dealer, manager, (ann, bob, cor) = team
    other_dealer = DealerFactory()
    MembershipFactory(dealer=other_dealer, user=ann)  # the same person at another rooftop: counted apart

    leads = [LeadFactory(dealer=dealer, assignee=ann) for _ in range(3)] + [LeadFactory(dealer=dealer, assignee=bob)]
    LeadFactory(dealer=dealer, assignee=None, queue="bdc", kind="passive")  # in the BDC queue: nobody's
    LeadFactory(dealer=dealer, assignee=cor, status="lost", closed_at=leads[0].received_at)  # closed on arrival
    LeadFactory(dealer=other_dealer, assignee=ann)
    assert kept(dealer) == counted(dealer) == {ann.pk: 3, bob.pk: 1}
    assert kept(other_dealer) == {ann.pk: 1}

    lead_reassign(lead=leads[0], to_user=cor, by=manager)  # the manager moves one
    assert kept(dealer) == counted(dealer) == {ann.pk: 2, bob.pk: 1, cor.pk: 1}

    lead_close(lead=leads[1], by=ann, outcome="lost", reason="bought elsewhere")
    assert kept(dealer) == counted(dealer) == {ann.pk: 1, bob.pk: 1, cor.pk: 1}

    Lead.objects.for_dealer(dealer).filter(pk=leads[1].pk).update(closed_at=None, status="contacted")  # reopened
    Lead.objects.for_dealer(dealer).filter(pk=leads[3].pk).update(attempt_count=2)  # no change of holder
    assert kept(dealer) == counted(dealer) == {ann.pk: 2, bob.pk: 1, cor.pk: 1}

    Lead.objects.for_dealer(dealer).filter(assignee=ann).update(assignee=bob)  # several at once, as the sweep does
    assert kept(dealer) == counted(dealer) == {bob.pk: 3, cor.pk: 1}

    Lead.objects.for_dealer(dealer).filter(pk=leads[3].pk).delete()
    assert kept(dealer) == counted(dealer) == {bob.pk: 2, cor.pk: 1}

    cor.delete()  # SET NULL on the leads: no longer anyone's
    assert kept(dealer) == counted(dealer) == {bob.pk: 2}
    assert kept(other_dealer) == counted(other_dealer) == {ann.pk: 1}


@pytest.mark.django_db
def test_folding_leaves_a_row_a_person_with_the_same_sums(team):
    dealer, manager, (ann, bob, cor) = team
    leads = [LeadFactory(dealer=dealer, assignee=ann) for _ in range(4)]
    for lead in leads[:2]:
        lead_reassign(lead=lead, to_user=bob, by=manager)
    lead_reassign(lead=leads[2], to_user=cor, by=manager)
    lead_reassign(lead=leads[2], to_user=ann, by=manager)  # and back: cor's rows sum to zero
    before = kept(dealer)
    assert rows_of(dealer) == 12  # 4 arrivals, 4 moves of a lead: a row each for the one it leaves and the one it joins

    assert open_lead_counts_fold(dealer_ids=[dealer.pk]) == 12  # rows removed
    assert kept(dealer) == before == counted(dealer) == {ann.pk: 2, bob.pk: 2}
    assert rows_of(dealer) == 2  # none for cor, whose changes cancel out


@pytest.mark.django_db
def test_the_round_robin_folds_a_dealers_piled_up_rows_and_still_picks_the_fewest(team):
    dealer, manager, (ann, bob, cor) = team
    for user, n in ((ann, FOLD_AFTER // 2 + 1), (bob, FOLD_AFTER // 2 + 1), (cor, 3)):
        for _ in range(n):
            LeadFactory(dealer=dealer, assignee=user)
    assert rows_of(dealer) > FOLD_AFTER

    with transaction.atomic():
        assert salesperson_pick(dealer=dealer, lock=True).pk == cor.pk  # read the rows, then folded them
    assert rows_of(dealer) == 3
    assert kept(dealer) == counted(dealer)

    with transaction.atomic():
        assert salesperson_pick(dealer=dealer, lock=True).pk == cor.pk  # from the folded rows


@pytest.mark.django_db
def test_the_hourly_task_folds_only_the_dealers_with_rows_to_fold(team):
    dealer, _manager, (ann, bob, _cor) = team
    quiet = DealerFactory()
    LeadFactory(dealer=quiet, assignee=ann)
    for _ in range(3):
        LeadFactory(dealer=dealer, assignee=bob, queue="bdc", kind="passive")  # a BDC dealer's agent

    assert open_lead_counts_tend.apply().get() == 3
    assert (rows_of(dealer), rows_of(quiet)) == (1, 1)
    assert kept(dealer) == counted(dealer) == {bob.pk: 3}


@pytest.mark.django_db(transaction=True)
def test_the_hourly_fold_waits_for_the_round_robins_and_leads_written_meanwhile_count_once():
    """The round-robin folds under the dealer's lock; the hourly fold takes that lock too, so it waits instead of
    deleting rows in another order; leads written meanwhile, committed or not, are counted once."""
    dealer = DealerFactory()
    ann, bob = UserFactory(), UserFactory()
    for user in (ann, bob):
        MembershipFactory(dealer=dealer, user=user)
    per_person = FOLD_AFTER // 2 + 1
    for _ in range(per_person):
        LeadFactory(dealer=dealer, assignee=ann)
        LeadFactory(dealer=dealer, assignee=bob)

    first_folded, second_started = threading.Event(), threading.Event()
    rows_after_pick, removed, errors = [], [], []

    def round_robin():
        try:
            with transaction.atomic():
                salesperson_pick(dealer=dealer, lock=True)  # the dealer's lock, the rows read, then folded
                rows_after_pick.append(rows_of(dealer))
                first_folded.set()
                second_started.wait(10)
                LeadFactory(dealer=dealer, assignee=ann)  # in the same transaction, after its fold
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    def hourly():
        try:
            first_folded.wait(10)
            LeadFactory(dealer=dealer, assignee=bob)  # committed at once, while the round-robin holds its rows
            second_started.set()
            removed.append(open_lead_counts_fold_piled_up())  # waits for the dealer's lock
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=round_robin), threading.Thread(target=hourly)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert rows_after_pick == [2]
    assert removed == [4]  # the round-robin's two rows and the two leads' rows, after it committed
    assert kept(dealer) == counted(dealer) == {ann.pk: per_person + 1, bob.pk: per_person + 1}
    assert rows_of(dealer) == 2


@pytest.mark.django_db(transaction=True)
def test_the_migration_counts_the_leads_already_there(team):
    """A live database gets its first counts from the leads it holds, then the triggers take over."""
    from django.db.migrations.executor import MigrationExecutor

    dealer, _manager, (ann, bob, _cor) = team
    LeadFactory(dealer=dealer, assignee=ann)
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate([("routing", "0001_initial")])  # as before the count: no table, no triggers
        LeadFactory(dealer=dealer, assignee=ann)
        LeadFactory(dealer=dealer, assignee=bob)
        LeadFactory(dealer=dealer, assignee=bob, status="sold", closed_at=timezone.now())
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(latest)
    assert kept(dealer) == counted(dealer) == {ann.pk: 2, bob.pk: 1}
    assert rows_of(dealer) == 2
    LeadFactory(dealer=dealer, assignee=bob)
    assert kept(dealer) == counted(dealer) == {ann.pk: 2, bob.pk: 2}


@pytest.mark.django_db
def test_a_write_that_bypassed_the_triggers_is_corrected_by_the_hourly_task(team, caplog):
    dealer, _manager, (ann, bob, cor) = team
    lead = LeadFactory(dealer=dealer, assignee=ann)
    LeadFactory(dealer=dealer, assignee=bob)
    assert open_lead_counts_true_up() == []  # nothing off: nothing written, nothing logged
    assert not caplog.records

    with connection.cursor() as cursor:  # as a restore or a replication that skips triggers would write
        cursor.execute("SET LOCAL session_replication_role = replica")
        Lead.objects.for_dealer(dealer).filter(pk=lead.pk).update(assignee=cor)
        LeadFactory(dealer=dealer, assignee=cor)
        cursor.execute("SET LOCAL session_replication_role = origin")
    assert kept(dealer) == {ann.pk: 1, bob.pk: 1}
    assert open_lead_counts_off() == [(dealer.pk, ann.pk, -1), (dealer.pk, cor.pk, 2)]

    assert open_lead_counts_tend.apply().get() == 4  # corrected, then folded: one row a person
    assert kept(dealer) == counted(dealer) == {bob.pk: 1, cor.pk: 2}
    assert rows_of(dealer) == 2
    assert "Open-lead counts were off for 2 people" in caplog.text
    assert open_lead_counts_off() == []
