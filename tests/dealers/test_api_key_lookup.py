"""The portal key's one-statement lookup finds what the queryset it replaces finds, with the dealer and policy loaded."""

import pytest
from django.utils import timezone

from dealers.auth import api_key_active
from dealers.models import ApiKey, Dealer, FollowUpPolicy, hash_api_key
from dealers.services import policy_get
from tests.factories import DealerFactory, api_key_for

pytestmark = pytest.mark.django_db


def _orm(raw_key):
    return (ApiKey.objects.unscoped().active().filter(key_hash=hash_api_key(raw_key))
            .select_related("dealer__followup_policy").first())


def test_the_lookup_loads_the_same_key_dealer_and_policy_as_the_queryset(django_assert_num_queries):
    dealer = DealerFactory()
    policy_get(dealer=dealer)
    FollowUpPolicy.objects.filter(dealer=dealer).update(cadence_days=[0, 2, 5], min_attempts=6)
    raw_key = api_key_for(dealer, source="marktplaats", rate_per_minute=77)
    expected = _orm(raw_key)
    with django_assert_num_queries(1):
        found = api_key_active(key_hash=hash_api_key(raw_key))
        assert (found.pk, found.source, found.rate_per_minute, found.created_at) == (
            expected.pk, expected.source, expected.rate_per_minute, expected.created_at)
        assert found.dealer.tz == expected.dealer.tz and found.dealer.slug == dealer.slug
        assert policy_get(dealer=found.dealer).cadence_days == [0, 2, 5]  # a list, as the JSON field reads it
        assert found.dealer.followup_policy.min_attempts == 6 and found.dealer.followup_policy.dealer is found.dealer


def test_a_revoked_or_unknown_key_finds_nothing():
    dealer = DealerFactory()
    raw_key = api_key_for(dealer)
    ApiKey.objects.unscoped().filter(dealer=dealer).update(revoked_at=timezone.now())
    assert api_key_active(key_hash=hash_api_key(raw_key)) is None
    assert api_key_active(key_hash=hash_api_key("opv_nothing_here")) is None


def test_a_dealer_without_a_policy_yet_gets_one_on_first_use():
    dealer = DealerFactory()
    FollowUpPolicy.objects.filter(dealer=dealer).delete()
    found = api_key_active(key_hash=hash_api_key(api_key_for(dealer)))
    assert Dealer.followup_policy.is_cached(found.dealer)
    assert policy_get(dealer=found.dealer).dealer_id == dealer.pk
    assert FollowUpPolicy.objects.filter(dealer=dealer).count() == 1


def test_the_lookup_brings_the_dealers_opening_schedule_as_routing_reads_it():
    import datetime as dt

    from dealers.hours import OpeningSchedule
    from dealers.models import ClosingDay, OpeningHours

    dealer = DealerFactory()
    OpeningHours.objects.create(dealer=dealer, weekday=0, opens=dt.time(9), closes=dt.time(12, 30))
    OpeningHours.objects.create(dealer=dealer, weekday=0, opens=dt.time(13, 30), closes=dt.time(18))
    ClosingDay.objects.create(dealer=dealer, date=dt.date(2026, 12, 31), label="Oudjaarsdag")
    raw_key = api_key_for(dealer)
    found = api_key_active(key_hash=hash_api_key(raw_key)).dealer
    with_key, on_its_own = OpeningSchedule.for_dealer(found), OpeningSchedule.for_dealer(Dealer.objects.get(pk=dealer.pk))
    assert found.schedule_rows is not None  # read with the key: routing reads nothing more
    assert with_key.by_day == on_its_own.by_day and with_key.closing_days == on_its_own.closing_days == {
        dt.date(2026, 12, 31): "Oudjaarsdag"}
    assert [(p.opens, p.closes) for p in with_key.by_day[0]] == [(dt.time(9), dt.time(12, 30)), (dt.time(13, 30), dt.time(18))]
    other = api_key_active(key_hash=hash_api_key(api_key_for(DealerFactory()))).dealer
    assert other.schedule_rows == [] and OpeningSchedule.for_dealer(other).always_open
