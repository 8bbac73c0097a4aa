"""Pure tests for leads.quality: no database, no Django apps needed."""

import dataclasses
import os

import pytest
from django.conf import settings

if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
    # Standalone run (no project settings): enough for gettext_lazy to evaluate.
    settings.configure(USE_I18N=False)

from leads.quality import (
    ALL_FLAGS,
    EMAIL_INVALID,
    EMAIL_THROWAWAY,
    NO_EMAIL,
    NO_NAME,
    NO_PHONE,
    PHONE_INVALID,
    PHONE_PLACEHOLDER,
    NormalisedContact,
    assess_contact,
    flag_hint,
    is_placeholder_phone,
    normalise_email,
    normalise_phone,
    storable,
    warnings_for,
)

PHONE_FLAGS = {PHONE_PLACEHOLDER, PHONE_INVALID, NO_PHONE}
EMAIL_FLAGS = {EMAIL_INVALID, EMAIL_THROWAWAY, NO_EMAIL}


def assess(
    email="jan@example.nl", phone="06 12345678", first="Jan", last="de Vries", **kw
):
    return assess_contact(
        email=email, phone=phone, first_name=first, last_name=last, **kw
    )


# --- normalise_phone --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "region", "e164"),
    [
        ("06 12345678", "NL", "+31612345678"),
        ("0612345678", "NL", "+31612345678"),
        ("06-12345678", "NL", "+31612345678"),
        ("+31 6 1234 5678", "NL", "+31612345678"),
        ("+31 (0)6 12345678", "NL", "+31612345678"),
        ("0031612345678", "NL", "+31612345678"),
        ("020-1234567", "NL", "+31201234567"),
        ("+32 470 12 34 56", "NL", "+32470123456"),
        ("0470 12 34 56", "BE", "+32470123456"),
        ("0470 12 34 56", "be", "+32470123456"),
        ("  06 12345678  ", "NL", "+31612345678"),
        # possible but not valid (or a placeholder): still normalised here
        ("06 98765432", "NL", "+31698765432"),
        ("+31 99 9999 9999", "NL", "+319999999999"),
    ],
)
def test_normalise_phone_e164(value, region, e164):
    assert normalise_phone(value, region=region) == (e164, value.strip())


def test_normalise_phone_default_region_is_nl():
    assert normalise_phone("06 12345678") == ("+31612345678", "06 12345678")


def test_region_default_honoured():
    # The same national number means something else with another default region.
    nl, _ = normalise_phone("0470 12 34 56", region="NL")
    be, _ = normalise_phone("0470 12 34 56", region="BE")
    assert be == "+32470123456"
    assert nl != be


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ("", "")),
        ("", ("", "")),
        ("   ", ("", "")),
        ("geen", ("", "geen")),
        ("abc", ("", "abc")),
        ("0612", ("", "0612")),  # not even a possible number
        ("+999 1234567", ("", "+999 1234567")),
    ],
)
def test_normalise_phone_unparseable_or_blank(value, expected):
    assert normalise_phone(value) == expected


# --- placeholders -------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "0000000000",
        "000000000",
        "06 00000000",
        "0600000000",
        "06-11111111",
        "+31 6 99999999",
        "123456789",
        "0123456789",
        "1234567890",
        "987654321",
        "0987654321",
        "+31 123456789",
        "1111111",
        "12345",
        "06 1234",
        "0612",
        "1",
        "-",
        "geen",
        "n.v.t.",
        "onbekend",
    ],
)
def test_placeholder_phones(value):
    assert is_placeholder_phone(value)
    contact = assess(phone=value)
    assert PHONE_PLACEHOLDER in contact.flags
    assert not (set(contact.flags) & (PHONE_FLAGS - {PHONE_PLACEHOLDER}))
    assert contact.phone_raw == value.strip()  # kept exactly as received
    assert contact.phone_e164 == ""  # never a callable number or a matching key


@pytest.mark.parametrize(
    "value",
    [
        "06 12345678",  # contract example: a normal number, not flagged
        "06 98765432",
        "020-1234567",
        "+32 470 12 34 56",
        "+31 6 21 43 65 87",
        "+49 30 1234567",
    ],
)
def test_not_placeholders(value):
    assert not is_placeholder_phone(value)


@pytest.mark.parametrize("value", [None, "", "   "])
def test_blank_phone_is_not_a_placeholder(value):
    assert not is_placeholder_phone(value)


# --- phone flags via assess_contact -------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "region", "e164"),
    [
        ("06 12345678", "NL", "+31612345678"),
        ("+31 6 1234 5678", "NL", "+31612345678"),
        ("0031612345678", "NL", "+31612345678"),
        ("020-1234567", "NL", "+31201234567"),
        ("+32 470 12 34 56", "NL", "+32470123456"),
        ("0470 12 34 56", "BE", "+32470123456"),
    ],
)
def test_good_phone_has_no_phone_flag(phone, region, e164):
    contact = assess(phone=phone, region=region)
    assert contact.phone_e164 == e164
    assert contact.phone_raw == phone
    assert not set(contact.flags) & PHONE_FLAGS
    assert contact.flags == ()


@pytest.mark.parametrize(
    ("phone", "e164"),
    [
        ("06 98765432", "+31698765432"),  # possible, not valid: e164 kept
        ("+31 8888 1234567", "+3188881234567"),
        ("+999 1234567", ""),  # unknown country code: not parseable
        ("06 12345678 9999 12", ""),  # too long to be possible
    ],
)
def test_invalid_phone(phone, e164):
    contact = assess(phone=phone)
    assert PHONE_INVALID in contact.flags
    assert not (set(contact.flags) & (PHONE_FLAGS - {PHONE_INVALID}))
    assert contact.phone_raw == phone
    assert contact.phone_e164 == e164


def test_invalid_in_nl_but_valid_with_region_be():
    assert PHONE_INVALID not in assess(phone="0470 12 34 56", region="BE").flags
    assert PHONE_INVALID in assess(phone="0470 12 34 56", region="NL").flags


@pytest.mark.parametrize("phone", [None, "", "  \t "])
def test_no_phone(phone):
    contact = assess(phone=phone)
    assert contact.flags == (NO_PHONE,)
    assert contact.phone_e164 == ""
    assert contact.phone_raw == ""


def test_raw_phone_is_stripped_but_otherwise_untouched():
    contact = assess(phone="  +31 (0)6-1234 5678 ")
    assert contact.phone_raw == "+31 (0)6-1234 5678"
    assert contact.phone_e164 == "+31612345678"


# --- e-mail ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  Jan@Example.NL ", "jan@example.nl"),
        ("JAN.DE.VRIES@EXAMPLE.NL", "jan.de.vries@example.nl"),
        ("jan@example.nl", "jan@example.nl"),
        (None, ""),
        ("", ""),
        ("   ", ""),
        ("Not An Email", "not an email"),  # normalised, never dropped
    ],
)
def test_normalise_email(value, expected):
    assert normalise_email(value) == expected


def test_assess_normalises_email():
    contact = assess(email="  Jan@Example.NL ")
    assert contact.email == "jan@example.nl"
    assert contact.flags == ()


@pytest.mark.parametrize(
    "email",
    [
        "jan",
        "jan@",
        "@example.nl",
        "jan@example",
        "jan@example..nl",
        "jan de vries@example.nl",
        "jan@@example.nl",
        "-",
        "geen",
    ],
)
def test_email_invalid(email):
    contact = assess(email=email)
    assert EMAIL_INVALID in contact.flags
    assert not (set(contact.flags) & (EMAIL_FLAGS - {EMAIL_INVALID}))
    assert contact.email == email.strip().lower()  # kept


@pytest.mark.parametrize(
    "email",
    [
        "jan@mailinator.com",
        "Jan@YOPMAIL.com",
        "x7@guerrillamail.com",
        "a.b@10minutemail.com",
        "kees@trashmail.com",
        "kees@tempmail.com",
        "kees@temp-mail.org",
        "kees@sharklasers.com",
        "kees@getnada.com",
        "kees@dispostable.com",
        "kees@maildrop.cc",
        "kees@eu.mailinator.com",
        "test@example.nl",
        "Test123@gmail.com",
        "asdf@hotmail.com",
        "aaa@ziggo.nl",
        "aaaaa@ziggo.nl",
        "noreply@dealer.nl",
        "no-reply@dealer.nl",
        "no.reply@dealer.nl",
        "xxx@xs4all.nl",
        "geen@geen.nl",
        "none@none.com",
        "nvt@nvt.nl",
    ],
)
def test_email_throwaway(email):
    contact = assess(email=email)
    assert EMAIL_THROWAWAY in contact.flags
    assert not (set(contact.flags) & (EMAIL_FLAGS - {EMAIL_THROWAWAY}))
    assert contact.email == email.lower()  # kept


@pytest.mark.parametrize(
    "email",
    [
        "jan@example.nl",
        "testa@example.nl",
        "tester@gmail.com",
        "anna@ziggo.nl",
        "j@dealer.nl",
        "mailinator@gmail.com",
        "jan@notmailinator.com",
        "jan.de.vries@kpnmail.nl",
    ],
)
def test_email_ordinary(email):
    assert not set(assess(email=email).flags) & EMAIL_FLAGS


@pytest.mark.parametrize("email", [None, "", "   "])
def test_no_email(email):
    contact = assess(email=email)
    assert contact.flags == (NO_EMAIL,)
    assert contact.email == ""


# --- name -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "last", "flagged"),
    [
        (None, None, True),
        ("", "", True),
        ("  ", "\t", True),
        ("Jan", None, False),
        (None, "de Vries", False),
        ("  ", "de Vries", False),
        ("Jan", "de Vries", False),
    ],
)
def test_no_name(first, last, flagged):
    assert (NO_NAME in assess(first=first, last=last).flags) is flagged


# --- combinations, shape ------------------------------------------------------------


def test_everything_odd_is_flagged_and_kept():
    contact = assess_contact(
        email=" TEST@Mailinator.com ",
        phone="0000000000",
        first_name=None,
        last_name=" ",
    )
    assert contact == NormalisedContact(
        email="test@mailinator.com",
        phone_e164="",
        phone_raw="0000000000",
        flags=(EMAIL_THROWAWAY, NO_NAME, PHONE_PLACEHOLDER),
    )


@pytest.mark.parametrize(
    ("kwargs", "flags"),
    [
        (
            {"email": None, "phone": None, "first": None, "last": None},
            (NO_EMAIL, NO_NAME, NO_PHONE),
        ),
        ({"email": "jan@", "phone": "123456789"}, (EMAIL_INVALID, PHONE_PLACEHOLDER)),
        ({"email": None, "phone": "+31 8888 1234567"}, (NO_EMAIL, PHONE_INVALID)),
        (
            {"email": "nvt@nvt.nl", "phone": None, "first": None},
            (EMAIL_THROWAWAY, NO_PHONE),
        ),
    ],
)
def test_flags_are_sorted_and_exclusive_per_channel(kwargs, flags):
    contact = assess(**kwargs)
    assert contact.flags == flags
    assert list(contact.flags) == sorted(contact.flags)
    assert len(set(contact.flags) & PHONE_FLAGS) == 1
    assert len(set(contact.flags) & EMAIL_FLAGS) == 1


def test_normalised_contact_is_frozen():
    contact = assess()
    assert isinstance(contact.flags, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        contact.email = "other@example.nl"


def test_all_flags_codes_are_stable():
    assert ALL_FLAGS == (
        "email_invalid",
        "email_throwaway",
        "no_email",
        "no_name",
        "no_phone",
        "phone_invalid",
        "phone_placeholder",
        "received_at_out_of_range",
    )


# --- hints and warnings -------------------------------------------------------------


def test_warnings_for_phone_placeholder_is_the_contract_sentence():
    assert warnings_for([PHONE_PLACEHOLDER]) == [
        "phone looks like a placeholder; follow up by e-mail"
    ]


def test_warnings_for_keeps_flag_order_one_per_flag():
    flags = assess_contact(
        email="test@mailinator.com", phone="0000000000", first_name=None, last_name=None
    ).flags
    result = warnings_for(flags)
    assert len(result) == len(flags) == 3
    assert result == [warnings_for([f])[0] for f in flags]
    assert warnings_for(()) == []


@pytest.mark.parametrize("code", ALL_FLAGS)
def test_every_flag_has_a_warning_and_a_hint(code):
    (warning,) = warnings_for([code])
    assert type(warning) is str and warning.strip()
    hint = str(flag_hint(code))
    assert hint.strip()


def test_hints_are_actionable():
    assert "e-mail" in str(flag_hint(PHONE_PLACEHOLDER))
    assert str(flag_hint(NO_PHONE)) == "No phone number — follow up by e-mail."
    assert "still send a reply" in str(flag_hint(EMAIL_THROWAWAY))
    assert "greet neutrally" in str(flag_hint(NO_NAME))


def test_hints_are_distinct():
    hints = [str(flag_hint(code)) for code in ALL_FLAGS]
    assert len(set(hints)) == len(hints)


def test_unknown_code_raises():
    with pytest.raises(KeyError):
        flag_hint("nope")
    with pytest.raises(KeyError):
        warnings_for(["nope"])


def test_storable_drops_nul_characters_and_lone_surrogates_and_keeps_the_rest():
    plain = "Jan de Vries"
    assert storable(plain) is plain  # nothing to do: the same string, not a copy
    assert storable("Jan\x00 de Vries") == "Jan de Vries"
    assert storable("Ça coûte 32.950 €\x00") == "Ça coûte 32.950 €"
    assert storable("kapot \ud800 teken") == "kapot ? teken"
    assert storable({"na\x00am": ["a\x00", "\udfff", 3, None], "ok": {"x": "€"}}) == {
        "naam": ["a", "?", 3, None], "ok": {"x": "€"}}
