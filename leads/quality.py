"""Normalise a lead's contact data and flag what looks odd.

This module never rejects anything. Odd-looking contact data (a phone of zeros,
``123456789``, a throwaway e-mail address, no name) is *kept* and *flagged*: the
flags become hints for the salesperson ("no usable phone — follow up by e-mail")
and the ``warnings`` list of the portal API. A flag must never be used to drop or
deprioritise a lead (see docs: "Never pre-qualify"); the lead score in
``leads.scoring`` deliberately ignores these flags.

Whether a lead has *any* contact method at all is decided by the API layer, not here.

Flag codes (stable; stored and sent to portals):

``phone_placeholder``
    A phone was given but it is a placeholder: one digit repeated (``0000000000``),
    the Dutch mobile prefix 6 followed by one repeated digit (``06 00000000``), an
    ascending/descending run (``123456789``, ``0123456789``, ``987654321``,
    ``1234567890``), or fewer than 6 digits (including text such as ``"geen"``).
    The check uses the national significant number's digits.
``phone_invalid``
    A phone was given, it is not a placeholder, but ``phonenumbers`` does not consider
    it a valid number (parsed with the dealer's country as default region).
``no_phone``
    No phone given (``None`` or blank).
``email_invalid``
    An e-mail was given but is not syntactically an address (Django's ``validate_email``).
``email_throwaway``
    A syntactically valid address at a well-known disposable provider, or whose local
    part looks like a placeholder (``test``, ``asdf``, ``noreply``, ``nvt``, ...).
``no_email``
    No e-mail given.
``no_name``
    Neither first nor last name given.

At most one phone flag and at most one e-mail flag is set. ``flags`` is sorted.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

__all__ = [
    "ALL_FLAGS",
    "EMAIL_INVALID",
    "EMAIL_THROWAWAY",
    "NO_EMAIL",
    "NO_NAME",
    "NO_PHONE",
    "PHONE_INVALID",
    "PHONE_PLACEHOLDER",
    "PLACEHOLDER_EMAIL_LOCAL_PARTS",
    "RECEIVED_AT_OUT_OF_RANGE",
    "THROWAWAY_EMAIL_DOMAINS",
    "NormalisedContact",
    "assess_contact",
    "flag_hint",
    "header_text",
    "is_placeholder_phone",
    "normalise_email",
    "normalise_phone",
    "warnings_for",
]

PHONE_PLACEHOLDER = "phone_placeholder"
PHONE_INVALID = "phone_invalid"
NO_PHONE = "no_phone"
EMAIL_INVALID = "email_invalid"
EMAIL_THROWAWAY = "email_throwaway"
NO_EMAIL = "no_email"
NO_NAME = "no_name"
RECEIVED_AT_OUT_OF_RANGE = "received_at_out_of_range"  # not a contact flag: set by the intake (leads/dates.py)

ALL_FLAGS: tuple[str, ...] = tuple(
    sorted(
        (
            PHONE_PLACEHOLDER,
            PHONE_INVALID,
            NO_PHONE,
            EMAIL_INVALID,
            EMAIL_THROWAWAY,
            NO_EMAIL,
            NO_NAME,
            RECEIVED_AT_OUT_OF_RANGE,
        )
    )
)

THROWAWAY_EMAIL_DOMAINS: frozenset[str] = frozenset(
    {
        "mailinator.com",
        "yopmail.com",
        "guerrillamail.com",
        "10minutemail.com",
        "trashmail.com",
        "tempmail.com",
        "temp-mail.org",
        "sharklasers.com",
        "getnada.com",
        "dispostable.com",
        "maildrop.cc",
    }
)

# Compared against the local part lowercased, with ".", "-" and "_" removed and
# trailing digits removed ("no-reply", "no.reply", "test123" all match).
PLACEHOLDER_EMAIL_LOCAL_PARTS: frozenset[str] = frozenset(
    {"test", "asdf", "aaa", "noreply", "xxx", "geen", "none", "nvt"}
)

MIN_PHONE_DIGITS = 6

# An ascending or descending run is any stretch of at least MIN_PHONE_DIGITS digits
# of these sequences ("123456789", "0123456789", "1234567890", "987654321", ...).
_ASCENDING = "01234567890"
_DESCENDING = "09876543210"

_NL_COUNTRY_CODE = 31
_NL_MOBILE_PREFIX = "6"

_NON_DIGITS = re.compile(r"\D")
_LOCAL_PART_SEPARATORS = re.compile(r"[._\-]")


@dataclass(frozen=True)
class NormalisedContact:
    """A lead's contact data after normalisation, with flags for what looks odd.

    email:       stripped and lowercased (whole address); kept even when flagged
                 ``email_invalid``; ``""`` if none given.
    phone_e164:  E.164 (``"+31612345678"``) when the number parses as a *possible*
                 number; ``""`` otherwise, **and also ``""`` for a placeholder** so
                 that ``+31000000000`` can never link two strangers as one customer.
    phone_raw:   the phone exactly as received (stripped); ``""`` if none.
    flags:       sorted flag codes (see the module docstring).
    """

    email: str
    phone_e164: str
    phone_raw: str
    flags: tuple[str, ...]


def _clean(value: object) -> str:
    """Strip a value to a string; ``None`` becomes ``""``."""
    if value is None:
        return ""
    return str(value).strip()


def _region(region: str | None) -> str:
    return (region or "NL").strip().upper() or "NL"


def normalise_email(value: str | None) -> str:
    """Strip and lowercase the whole address; ``""`` for ``None``/blank.

    Nothing is validated or removed here (an invalid address is still returned).
    """
    return _clean(value).lower()


@functools.lru_cache(maxsize=256)  # assess_contact parses one number three times; callers only read the result
def _parse_phone(raw: str, region: str) -> phonenumbers.PhoneNumber | None:
    if not raw:
        return None
    try:
        return phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None


def normalise_phone(value: str | None, *, region: str = "NL") -> tuple[str, str]:
    """Return ``(e164, raw)``.

    ``raw`` is the value as received, stripped (``""`` if none). ``e164`` is the
    E.164 form when ``phonenumbers`` can parse the value as a *possible* number with
    ``region`` as the default region (``"06 12345678"`` → ``"+31612345678"``),
    otherwise ``""``. Validity is not required here; see :func:`assess_contact`.
    """
    raw = _clean(value)
    number = _parse_phone(raw, _region(region))
    if number is None or not phonenumbers.is_possible_number(number):
        return "", raw
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), raw


def _is_run(digits: str) -> bool:
    return len(digits) >= MIN_PHONE_DIGITS and (
        digits in _ASCENDING or digits in _DESCENDING
    )


def _is_repeated(digits: str) -> bool:
    return len(digits) > 0 and len(set(digits)) == 1


def _placeholder_digits(digits: str, country_code: int | None) -> bool:
    if len(digits) < MIN_PHONE_DIGITS:
        return True
    if _is_repeated(digits) or _is_run(digits):
        return True
    # "06 00000000": the NL mobile prefix followed by one repeated digit.
    return (
        country_code in (None, _NL_COUNTRY_CODE)
        and digits.startswith(_NL_MOBILE_PREFIX)
        and _is_repeated(digits[len(_NL_MOBILE_PREFIX) :])
    )


def is_placeholder_phone(value: str | None, *, region: str = "NL") -> bool:
    """True when a *given* phone looks like a placeholder (see ``phone_placeholder``).

    Uses the national significant number's digits when the value parses; otherwise
    the digits of the raw value with a national trunk prefix "0"/"00" removed.
    ``None``/blank is not a placeholder (it is ``no_phone``).
    """
    raw = _clean(value)
    if not raw:
        return False
    number = _parse_phone(raw, _region(region))
    if number is not None:
        digits = phonenumbers.national_significant_number(number)
        country_code = number.country_code
    else:
        digits = _NON_DIGITS.sub("", raw).lstrip("0")
        country_code = None
    # "0000000000" parses with an italian leading zero; strip zeros only when that
    # leaves something, so all-zero numbers stay "all one digit".
    stripped = digits.lstrip("0")
    candidates = {digits, stripped} if stripped else {digits}
    return any(_placeholder_digits(d, country_code) for d in candidates)


def _is_throwaway_email(email: str) -> bool:
    local, _sep, domain = email.rpartition("@")
    if domain in THROWAWAY_EMAIL_DOMAINS or any(
        domain.endswith("." + d) for d in THROWAWAY_EMAIL_DOMAINS
    ):
        return True
    compact = _LOCAL_PART_SEPARATORS.sub("", local)
    if compact.rstrip("0123456789") in PLACEHOLDER_EMAIL_LOCAL_PARTS:
        return True
    # "aaaa@...", "xxxxx@...": one character repeated at least three times.
    return len(compact) >= 3 and len(set(compact)) == 1


def _email_flag(email: str) -> str | None:
    if not email:
        return NO_EMAIL
    try:
        validate_email(email)
    except ValidationError:
        return EMAIL_INVALID
    if _is_throwaway_email(email):
        return EMAIL_THROWAWAY
    return None


def _phone_flag(raw: str, region: str) -> str | None:
    if not raw:
        return NO_PHONE
    if is_placeholder_phone(raw, region=region):
        return PHONE_PLACEHOLDER
    number = _parse_phone(raw, region)
    if number is None or not phonenumbers.is_valid_number(number):
        return PHONE_INVALID
    return None


def assess_contact(
    *,
    email: str | None,
    phone: str | None,
    first_name: str | None,
    last_name: str | None,
    region: str = "NL",
) -> NormalisedContact:
    """Normalise e-mail and phone and flag what looks odd. Never raises for odd data.

    ``region`` is the dealer's country (ISO 3166 alpha-2), the default region for
    numbers written without a country code.
    """
    region = _region(region)
    norm_email = normalise_email(email)
    e164, raw = normalise_phone(phone, region=region)

    flags: set[str] = set()
    email_flag = _email_flag(norm_email)
    if email_flag:
        flags.add(email_flag)
    phone_flag = _phone_flag(raw, region)
    if phone_flag:
        flags.add(phone_flag)
    if phone_flag == PHONE_PLACEHOLDER:
        # Keep the raw value, but never offer a placeholder as a callable number or
        # as a key to match customers on.
        e164 = ""
    if not _clean(first_name) and not _clean(last_name):
        flags.add(NO_NAME)

    return NormalisedContact(
        email=norm_email,
        phone_e164=e164,
        phone_raw=raw,
        flags=tuple(sorted(flags)),
    )


_HINTS = {
    PHONE_PLACEHOLDER: _(
        "Phone number looks like a placeholder — follow up by e-mail or WhatsApp; "
        "the customer may prefer not to be called."
    ),
    PHONE_INVALID: _(
        "Phone number does not look valid — check it for a typo, and follow up by "
        "e-mail as well."
    ),
    NO_PHONE: _("No phone number — follow up by e-mail."),
    EMAIL_INVALID: _(
        "E-mail address does not look valid — check it for a typo, and call or "
        "WhatsApp the customer."
    ),
    EMAIL_THROWAWAY: _(
        "E-mail address looks like a throwaway — try the phone first, but still send a reply."
    ),
    NO_EMAIL: _("No e-mail address — call, text or WhatsApp the customer."),
    NO_NAME: _("No name given — greet neutrally and ask in your first reply."),
    RECEIVED_AT_OUT_OF_RANGE: _("The portal sent an impossible date; the lead counts from its arrival."),
}

_WARNINGS = {
    PHONE_PLACEHOLDER: "phone looks like a placeholder; follow up by e-mail",
    PHONE_INVALID: "phone does not look like a valid number; it was kept as received",
    NO_PHONE: "no phone number; follow up by e-mail",
    EMAIL_INVALID: "e-mail does not look like a valid address; it was kept as received",
    EMAIL_THROWAWAY: "e-mail looks like a throwaway address; follow up by phone as well",
    NO_EMAIL: "no e-mail address; follow up by phone",
    NO_NAME: "no customer name given",
    RECEIVED_AT_OUT_OF_RANGE: "received_at is out of range; it was kept as received and the arrival time used",
}


def flag_hint(code: str) -> str:
    """The translatable, actionable hint for one flag (a lazy string).

    Raises ``KeyError`` for an unknown code.
    """
    return _HINTS[code]


def warnings_for(flags: Iterable[str]) -> list[str]:
    """Plain-English sentences for the API ``warnings`` list, one per flag, in order.

    Raises ``KeyError`` for an unknown code.
    """
    return [_WARNINGS[code] for code in flags]


def storable(value):
    """What PostgreSQL can store: no NUL characters and no lone UTF-16 surrogates, in strings and keys alike.

    Portals do send such bytes; the lead is kept with them replaced rather than refused.
    """
    if isinstance(value, str):
        value = value.replace("\x00", "")  # the same string back when there is none
        # Only non-ASCII text can hold a lone surrogate (isascii() reads a flag CPython keeps: no scan).
        return value if value.isascii() else value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value


_HEADER_BREAKS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def header_text(value: str, limit: int | None = None) -> str:
    """One line fit for a mail header: a customer's name with CR/LF (or any control character) in it would make every
    mail carrying it fail (BadHeaderError) for good; they become one space."""
    text = _HEADER_BREAKS.sub(" ", value or "").strip()
    return text[:limit] if limit is not None else text
