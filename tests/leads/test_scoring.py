"""Pure tests for leads.scoring: no database, no Django apps needed."""

import copy
import dataclasses
import os

import pytest
from django.conf import settings

if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
    settings.configure(USE_I18N=False)

from leads.scoring import PART_MAX, BantScore, score_lead

RICH_LEAD = {
    "external_id": "MP-2026-118734",
    "channel": "call",
    "reason": None,
    "customer": {
        "first_name": "Jan",
        "last_name": "de Vries",
        "email": "jan@example.nl",
        "phone": "06 12345678",
    },
    "vehicle": {
        "interest": "buy",
        "make": "Hyundai",
        "model": "Tucson",
        "year": 2023,
        "vin": "KMHJ381ABCD123456",
        "stock_number": "A1234",
        "price": 32950,
        "url": "https://dealer.example/a1234",
    },
    "trade_in": {"make": "Kia", "model": "Picanto", "year": 2015},
    "timeframe": {"description": "binnen 2 weken", "earliestdate": "2026-11-25"},
    "finance": True,
    "message": "Kan ik morgen een proefrit maken? Graag ook een maandbedrag.",
}


def lead(**overrides):
    data = copy.deepcopy(RICH_LEAD)
    data.update(overrides)
    return data


def test_total_is_sum_of_parts():
    score = BantScore(budget=1, authority=2, need=3, timeline=4)
    assert score.total == 10


def test_score_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        score_lead({}).budget = 25


# --- empty and rich ------------------------------------------------------------------


def test_empty_lead_scores_only_the_default_channel():
    # Decision: an empty body is a web_form lead (the API default channel), which is
    # worth 10 authority points (A2); nothing else scores.
    assert score_lead({}) == BantScore(budget=0, authority=10, need=0, timeline=0)
    assert score_lead({}).total == 10


@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        {"customer": {}},
        {
            "vehicle": None,
            "trade_in": None,
            "timeframe": None,
            "message": None,
            "customer": None,
        },
    ],
)
def test_missing_or_null_keys_score_like_empty(data):
    assert score_lead(data).total == 10


@pytest.mark.parametrize(
    "data",
    [
        {
            "vehicle": "Tucson",
            "trade_in": "ja",
            "timeframe": "morgen",
            "customer": "Jan",
        },
        {"vehicle": {"price": "n.o.t.k."}, "message": 42, "channel": 7},
        {"vehicle": {"price": True}, "finance": 0, "channel": "   "},
        {"trade_in": {"make": "", "model": None}, "timeframe": {"description": "  "}},
    ],
)
def test_malformed_values_never_raise_and_earn_nothing(data):
    assert score_lead(data).total == 10


def test_rich_lead_scores_high():
    score = score_lead(RICH_LEAD)
    assert score == BantScore(budget=25, authority=25, need=25, timeline=25)
    assert score.total == 100


def test_parts_stay_within_bounds_and_timeline_is_capped():
    # timeline raw points: 10 (timeframe) + 15 (urgent) + 5 (call) = 30 -> capped at 25
    score = score_lead(RICH_LEAD)
    for part in (score.budget, score.authority, score.need, score.timeline):
        assert 0 <= part <= PART_MAX
    assert score.timeline == PART_MAX
    assert 0 <= score.total <= 100


# --- budget ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "budget"),
    [
        ({"vehicle": {"price": 32950}}, 15),
        ({"vehicle": {"price": 32950.5}}, 15),
        ({"vehicle": {"price": "32.950"}}, 15),
        ({"vehicle": {"price": 0}}, 0),
        ({"vehicle": {"price": None}}, 0),
        ({"vehicle": {"price": ""}}, 0),
        ({"finance": True}, 10),
        ({"finance": False}, 0),
        ({"message": "Wat is het maandbedrag?"}, 10),
        ({"message": "Interesse in financiering"}, 10),
        ({"message": "Kan ik deze auto financieren?"}, 10),
        ({"message": "Is private LEASE mogelijk?"}, 10),
        ({"message": "Ik wil graag leasen"}, 10),
        ({"message": "Do you offer financing?"}, 10),
        ({"message": "Please call me back"}, 0),  # "please" is not "lease"
        ({"message": "Wat kan er van de prijs af?"}, 0),
        ({"vehicle": {"price": 32950}, "finance": True}, 25),
        ({"vehicle": {"price": 32950}, "finance": True, "message": "lease?"}, 25),
    ],
)
def test_budget(data, budget):
    assert score_lead(data).budget == budget


# --- authority ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "authority"),
    [
        ({}, 10),
        ({"channel": "web_form"}, 10),
        ({"channel": "email"}, 10),
        ({"channel": "sms"}, 10),
        ({"channel": "call"}, 15),
        ({"channel": "walk_in"}, 15),
        ({"channel": "whatsapp"}, 15),
        ({"channel": "chat"}, 15),
        ({"channel": "CALL"}, 15),
        ({"channel": "outbound"}, 5),
        ({"channel": "web_form", "reason": "lease_end"}, 5),
        ({"channel": "call", "reason": "callback"}, 5),  # passive overrides the channel
        ({"customer": {"first_name": "Jan"}}, 20),
        ({"customer": {"last_name": "de Vries"}}, 20),
        ({"customer": {"first_name": "  ", "last_name": ""}}, 10),
        ({"customer": {"first_name": "Jan"}, "channel": "walk_in"}, 25),
        ({"customer": {"first_name": "Jan"}, "channel": "outbound"}, 15),
    ],
)
def test_authority(data, authority):
    assert score_lead(data).authority == authority


# --- need -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "need"),
    [
        ({"vehicle": {"vin": "KMHJ381ABCD123456"}}, 15),
        ({"vehicle": {"stock_number": "A1234"}}, 15),
        ({"vehicle": {"url": "https://dealer.example/a1234"}}, 15),
        ({"vehicle": {"make": "Hyundai", "model": "Tucson"}}, 10),
        ({"vehicle": {"make": "Hyundai"}}, 0),
        ({"vehicle": {"model": "Tucson"}}, 0),
        # a specific vehicle and make+model do not stack
        ({"vehicle": {"vin": "X", "make": "Hyundai", "model": "Tucson"}}, 15),
        ({"trade_in": {"make": "Kia"}}, 10),
        ({"trade_in": {}}, 0),
        (
            {
                "vehicle": {"make": "Hyundai", "model": "Tucson"},
                "trade_in": {"make": "Kia"},
            },
            20,
        ),
        (
            {
                "vehicle": {"vin": "X", "url": "u", "stock_number": "s"},
                "trade_in": {"year": 2015},
            },
            25,
        ),
    ],
)
def test_need(data, need):
    assert score_lead(data).need == need


# --- timeline -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "timeline"),
    [
        ({"timeframe": {"earliestdate": "2026-12-01"}}, 10),
        ({"timeframe": {"description": "binnen een maand"}}, 10),
        ({"timeframe": {}}, 0),
        ({"message": "Kan ik vandaag langskomen?"}, 15),
        ({"message": "Morgen tijd?"}, 15),
        ({"message": "morgenochtend bellen aub"}, 15),
        ({"message": "Liefst deze  week nog"}, 15),
        ({"message": "Graag zo snel mogelijk contact"}, 15),
        ({"message": "Call me ASAP"}, 15),
        ({"message": "Can I come today?"}, 15),
        ({"message": "tomorrow please"}, 15),
        ({"message": "This week if possible"}, 15),
        ({"message": "Ik wil direct kopen"}, 15),
        ({"message": "SPOED"}, 15),
        ({"message": "Graag een proefrit"}, 15),
        ({"message": "I'd like a test drive"}, 15),
        ({"message": "I'd like a test-drive"}, 15),
        ({"message": "Goedemorgen, is de auto nog beschikbaar?"}, 0),  # not "morgen"
        ({"message": "Ik ben directeur van een bedrijf"}, 0),  # not "direct"
        ({"message": "Is de auto nog beschikbaar?"}, 0),
        ({"channel": "call"}, 5),
        ({"channel": "walk_in"}, 5),
        ({"channel": "chat"}, 5),
        ({"channel": "whatsapp"}, 0),
        ({"channel": "web_form"}, 0),
        ({"timeframe": {"description": "snel"}, "message": "vandaag?"}, 25),
        (
            {
                "timeframe": {"description": "snel"},
                "message": "vandaag?",
                "channel": "chat",
            },
            25,
        ),
        ({"message": "vandaag?", "channel": "call"}, 20),
    ],
)
def test_timeline(data, timeline):
    assert score_lead(data).timeline == timeline


def test_urgency_raises_the_score():
    calm = lead(
        message="Is de auto nog beschikbaar?", timeframe=None, channel="web_form"
    )
    urgent = dict(
        calm, message="Is de auto nog beschikbaar? Ik wil vandaag een proefrit."
    )
    assert score_lead(urgent).total > score_lead(calm).total


# --- never pre-qualify ------------------------------------------------------------------


@pytest.mark.parametrize(
    "customer_changes",
    [
        {"phone": "0000000000"},
        {"phone": "06 00000000"},
        {"phone": "123456789"},
        {"phone": "12345"},
        {"phone": "geen"},
        {"phone": None},
        {"email": "test@mailinator.com"},
        {"email": "not an email"},
        {"email": None},
        {"phone": "0000000000", "email": "asdf@yopmail.com"},
    ],
)
@pytest.mark.parametrize(
    "base", [RICH_LEAD, {"customer": {"phone": "06 12345678"}}, {}]
)
def test_odd_contact_data_never_changes_the_score(base, customer_changes):
    good = copy.deepcopy(base)
    good.setdefault("customer", {})
    good["customer"].update({"email": "jan@example.nl", "phone": "06 12345678"})
    odd = copy.deepcopy(good)
    odd["customer"].update(customer_changes)
    assert score_lead(odd) == score_lead(good)


def test_low_score_is_still_a_score():
    # Ranking only: the lowest possible lead still gets a BantScore, nothing is dropped.
    score = score_lead({"channel": "outbound", "customer": {"phone": "0000000000"}})
    assert score == BantScore(budget=0, authority=5, need=0, timeline=0)
    assert score.total > 0


def test_input_is_not_mutated():
    data = copy.deepcopy(RICH_LEAD)
    score_lead(data)
    assert data == RICH_LEAD
