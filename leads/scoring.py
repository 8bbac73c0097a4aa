"""A BANT-style lead score: it ranks leads, it never drops them.

BANT = Budget, Authority, Need, Timeline; each part scores 0..25, the total 0..100.
High scores are worked first; low scores are still answered and stay in follow-up
(see docs: "Prioritising without ignoring"). Nothing here filters, rejects or hides
a lead.

**The score never uses contact-quality flags** (``leads.quality``): a placeholder
phone, a throwaway or missing e-mail address, or a missing phone can neither lower
nor raise it ("Never pre-qualify"). Only a customer *name* counts, as a sign of
authority, and only positively. ``score_lead`` does not even read ``customer.phone``
or ``customer.email``.

Input: the lead body in the portal API's JSON shape (every key may be missing or
``None``; malformed values simply earn no points, nothing raises).

Rules (each point traceable to one rule; every part is capped at 25):

Budget
    B1  ``vehicle.price`` known (a number > 0, or a non-blank string with a digit)  +15
    B2  financing interest: ``finance`` truthy, or ``message`` mentions financing
        (financing/finance/financiering/financieren, lease/leasen/leasing,
        maandbedrag, maandlast(en), afbetaling)                                   +10
Authority
    A1  named customer: ``customer.first_name`` or ``customer.last_name`` non-blank +10
    A2  by how the lead reached us (one of):
        passive lead (a ``reason``, or channel ``outbound``)                        +5
        a person actually talked to us: channel call/walk_in/whatsapp/chat         +15
        web_form/email/sms, or no/unknown channel (the API default is web_form)    +10
Need
    N1  a specific vehicle: ``vehicle.vin``, ``vehicle.stock_number`` or
        ``vehicle.url``                                                            +15
        otherwise ``vehicle.make`` and ``vehicle.model`` both given               +10
    N2  a trade-in (``trade_in`` with any non-blank value)                          +10
Timeline (the dynamic part: it rises with urgency)
    T1  ``timeframe.earliestdate`` or ``timeframe.description`` present            +10
    T2  ``message`` mentions urgency (case-insensitive, whole words): vandaag,
        morgen (morgenochtend/-middag/-avond), deze week, zo snel mogelijk,
        asap, today, tomorrow, this week, direct, spoed, proefrit, test drive      +15
    T3  channel call/walk_in/chat                                                   +5

An empty body ``{}`` scores 10 (A2: the default channel web_form) and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["PART_MAX", "BantScore", "score_lead"]

PART_MAX = 25

# Budget
PRICE_KNOWN = 15
FINANCE_INTEREST = 10
# Authority
NAMED_CUSTOMER = 10
CHANNEL_CONVERSATION = 15
CHANNEL_WRITTEN = 10
PASSIVE = 5
# Need
SPECIFIC_VEHICLE = 15
MAKE_AND_MODEL = 10
TRADE_IN = 10
# Timeline
TIMEFRAME_GIVEN = 10
URGENT_MESSAGE = 15
LIVE_CHANNEL = 5

DEFAULT_CHANNEL = "web_form"
CONVERSATION_CHANNELS = frozenset({"call", "walk_in", "whatsapp", "chat"})
LIVE_CHANNELS = frozenset({"call", "walk_in", "chat"})
OUTBOUND_CHANNEL = "outbound"

_FINANCE_RE = re.compile(
    r"\b(?:financ\w*|lease\w*|leasing|maandbedrag\w*|maandlast\w*|afbetaling\w*)\b",
    re.IGNORECASE,
)
_URGENCY_RE = re.compile(
    r"\b(?:vandaag|morgen(?:ochtend|middag|avond)?|deze\s+week|zo\s+snel\s+mogelijk"
    r"|asap|today|tomorrow|this\s+week|direct|spoed\w*|proefrit\w*|test[\s-]?drive)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class BantScore:
    budget: int  # 0..25
    authority: int  # 0..25
    need: int  # 0..25
    timeline: int  # 0..25

    @property
    def total(self) -> int:
        """0..100."""
        return self.budget + self.authority + self.need + self.timeline


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _present(value: Any) -> bool:
    """A value counts when it is not None/blank (``0`` and ``False`` do count)."""
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (Mapping, list, tuple, set)):
        return bool(value)
    return True


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _channel(data: Mapping[str, Any]) -> str:
    channel = data.get("channel")
    if isinstance(channel, str) and channel.strip():
        return channel.strip().lower()
    return DEFAULT_CHANNEL


def _price_known(price: Any) -> bool:
    if isinstance(price, bool):
        return False
    if isinstance(price, (int, float)):
        return price > 0
    if isinstance(price, str):
        return any(ch.isdigit() for ch in price) and price.strip("0.,€ ") != ""
    return False


def _cap(points: int) -> int:
    return max(0, min(PART_MAX, points))


def _budget(data: Mapping[str, Any], vehicle: Mapping[str, Any], message: str) -> int:
    points = 0
    if _price_known(vehicle.get("price")):
        points += PRICE_KNOWN  # B1
    if data.get("finance") or _FINANCE_RE.search(message):
        points += FINANCE_INTEREST  # B2
    return _cap(points)


def _authority(data: Mapping[str, Any], channel: str) -> int:
    points = 0
    customer = _mapping(data.get("customer"))
    if _present(customer.get("first_name")) or _present(customer.get("last_name")):
        points += NAMED_CUSTOMER  # A1
    if _present(data.get("reason")) or channel == OUTBOUND_CHANNEL:
        points += PASSIVE  # A2 passive
    elif channel in CONVERSATION_CHANNELS:
        points += CHANNEL_CONVERSATION  # A2 conversation
    else:
        points += CHANNEL_WRITTEN  # A2 web_form/email/sms/default
    return _cap(points)


def _need(data: Mapping[str, Any], vehicle: Mapping[str, Any]) -> int:
    points = 0
    if any(_present(vehicle.get(key)) for key in ("vin", "stock_number", "url")):
        points += SPECIFIC_VEHICLE  # N1 specific
    elif _present(vehicle.get("make")) and _present(vehicle.get("model")):
        points += MAKE_AND_MODEL  # N1 make+model
    trade_in = _mapping(data.get("trade_in"))
    if any(_present(value) for value in trade_in.values()):
        points += TRADE_IN  # N2
    return _cap(points)


def _timeline(data: Mapping[str, Any], channel: str, message: str) -> int:
    points = 0
    timeframe = _mapping(data.get("timeframe"))
    if _present(timeframe.get("earliestdate")) or _present(
        timeframe.get("description")
    ):
        points += TIMEFRAME_GIVEN  # T1
    if _URGENCY_RE.search(message):
        points += URGENT_MESSAGE  # T2
    if channel in LIVE_CHANNELS:
        points += LIVE_CHANNEL  # T3
    return _cap(points)


def score_lead(data: Mapping[str, Any] | None) -> BantScore:
    """Score a lead body (portal API JSON shape). Never raises for odd input."""
    data = _mapping(data)
    vehicle = _mapping(data.get("vehicle"))
    message = _text(data.get("message"))
    channel = _channel(data)
    return BantScore(
        budget=_budget(data, vehicle, message),
        authority=_authority(data, channel),
        need=_need(data, vehicle),
        timeline=_timeline(data, channel, message),
    )
