"""Tests for leads.adf, the ADF/XML 1.0 parser. Pure Python: no database, no Django settings.

Run alone with:
    .venv/bin/pytest -p no:django -p no:cacheprovider tests/leads/test_adf_parser.py -q

Real fixtures (tests/fixtures/adf/real/) are documents found in public repositories; the
expected values come from their SOURCES.md. Crafted fixtures (tests/fixtures/adf/crafted/)
cover what the real ones don't: several prospects, encodings, extensions, hostile input.
"""

from __future__ import annotations

import codecs
import json
import random
import time
from pathlib import Path

import pytest

from leads.adf import MAX_BYTES, AdfProspect, AdfRefused, parse_adf

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "adf"
REAL = FIXTURES / "real"
CRAFTED = FIXTURES / "crafted"
HOSTILE = CRAFTED / "hostile"


def parse_file(path: Path) -> list[AdfProspect]:
    return parse_adf(path.read_bytes())


def parse_one(path: Path) -> AdfProspect:
    prospects = parse_file(path)
    assert len(prospects) == 1
    return prospects[0]


def minimal_adf(customer: str = "<contact><email>a@example.com</email></contact>") -> str:
    return f"<adf><prospect><customer>{customer}</customer></prospect></adf>"


# --- Real documents (expected values from tests/fixtures/adf/real/SOURCES.md) ------

# data without "message"; the message is checked by its first and last line.
REAL_EXPECTED = {
    "01-adfparser-lending-lead-crlf.xml": {
        "data": {
            "received_at": "2019-01-15T18:46:36-06:00",
            "customer": {
                "first_name": "John",
                "last_name": "Test01292019",
                "email": "testemail@domain.com",
                "phone": "1234567890",
            },
            "vehicle": {"interest": "buy", "status": "used", "make": "Hyundai", "model": "i30", "year": 2023},
        },
        "message": ("Date of Birth: 1980-11-17", "Comments: looking for SUV, new to the country..."),
        "extras": {
            "ids": [{"source": "ABC", "sequence": "1", "value": ""}],
            "prospect_status": "new",
            "vendor": "Approval Genie",
            "provider": "PROSPECT",
        },
    },
    "02-fetchauto-no-vehicle-custom-tags.xml": {
        "data": {
            "external_id": "1",
            "received_at": "2018-04-15T15:30:20.000-08:00",
            "customer": {
                "first_name": "Test",
                "last_name": "user",
                "email": "test@fetchauto.ca",
                "phone": "778-555-4474",
            },
        },
        "message": None,
        "extras": {
            "ids": [{"source": "fetch-auto", "sequence": None, "value": "1"}],
            "prospect_status": None,
            "vendor": None,
            "provider": "Fetch Auto",
        },
    },
    "03-fetchauto-single-line-cdata.xml": {
        "data": {
            "external_id": "1234",
            "received_at": "2018-04-12T16:30:20Z",
            "customer": {
                "first_name": "Peter",
                "last_name": "Smith",
                "email": "dealership.support@fetchautp.ca",
                "phone": "6041234567",
            },
        },
        "message": ("employer: Telus", "date_of_birth: 1988-02-19"),
        "extras": {
            "ids": [{"source": "fetch-auto", "sequence": None, "value": "1234"}],
            "vendor": "Test dealer",
            "provider": "Fetch Auto",
        },
    },
    "04-activix-full-featured-custom-tags.xml": {
        "data": {
            "external_id": "12345",
            "received_at": "2020-04-28T15:30:20-05:00",
            "customer": {
                "first_name": "Test",
                "last_name": "Activix 2",
                "email": "test@activix.ca",
                "phone": "+14382881008",
                "language": "fr",
            },
            "vehicle": {
                "interest": "buy",
                "status": "new",
                "make": "Volvo",
                "model": "XC90",
                "year": 2020,
                "vin": "2GTEK19R7V1511644",
                "stock_number": "V12345",
                "price": 59999.99,
                "currency": "CAD",
                "mileage_km": 1500,
            },
        },
        "message": ("Can you deliver the car to my house?", "Can you deliver the car to my house?"),
        "extras": {
            "ids": [{"source": "Activix", "sequence": "1", "value": "12345"}],
            "prospect_status": "new",
            "vendor": "ABC Motors",
            "provider": "Activix",
        },
    },
    "09-adfbuilder-two-vehicles-no-interest.xml": {
        "data": {
            "received_at": "2026-01-19 16:40:00 -0600",
            "customer": {
                "first_name": "John",
                "last_name": "Doe",
                "email": "john@example.com",
                "phone": "555-1234",
            },
            "vehicle": {"status": "new", "make": "Ford", "model": "F-150", "year": 2021},
        },
        "message": None,
        "extras": {"ids": [], "vendor": None, "provider": None},
    },
    "10-adfbuilder-pi-before-xml-decl.xml": {
        "data": {
            "received_at": "2021-11-02T16:35:43+04:00",
            "customer": {},
            "vehicle": {"status": "used", "make": "Toyota", "model": "Prius", "year": 2021},
        },
        "message": None,
        "extras": {"ids": [], "prospect_status": "new", "vendor": None, "provider": None},
    },
    "11-sendadf-single-line-minimal.xml": {
        "data": {
            "received_at": "2020-02-09T18:26:00-05:00",
            "customer": {"first_name": "John", "last_name": "Doe", "phone": "393-999-3922"},
            "vehicle": {
                "interest": "buy",
                "status": "used",
                "make": "Chevrolet",
                "model": "Blazer",
                "year": 1999,
            },
        },
        "message": None,
        "extras": {"emails": [], "prospect_status": "new", "vendor": "Acura of Bellevue", "provider": None},
    },
    "12-tradeaccelerator-buy-plus-tradein.xml": {
        "data": {
            "external_id": "11310",
            "received_at": "2026-05-27T18:35:40+00:00",
            "customer": {
                "first_name": "Casey",
                "last_name": "Sample",
                "email": "casey.sample@example.com",
                "phone": "5855550147",
            },
            "vehicle": {
                "interest": "buy",
                "status": "used",
                "make": "HARLEY-DAVIDSON",
                "model": "Street Glide Special",
                "year": 2021,
                "price": 0.0,
                "currency": "USD",
            },
            "trade_in": {"make": "HARLEY-DAVIDSON", "model": "FLHCS Heritage Class", "year": 2018},
        },
        "message": ("Pre-Inspection Trade-In Value Estimate <br />", "Mail Opt-In: Yes"),
        "extras": {
            "ids": [{"source": "Traffic Log Pro", "sequence": "1", "value": "11310"}],
            "vendor": None,
            "provider": "Trade Accelerator - Trade In",
        },
    },
    "13-hdmarketplace-sell-empty-vehicle.xml": {
        # The sell vehicle is all empty elements: nothing to put in data["trade_in"].
        "data": {
            "external_id": "11324",
            "received_at": "2026-05-28T20:45:31+00:00",
            "customer": {
                "first_name": "Riley",
                "last_name": "Placeholder",
                "email": "riley.placeholder@example.com",
                "phone": "7165550188",
            },
        },
        "message": (
            "Lead Captured Date:2026-05-28 <br />",
            "Description: Would like to know what you could do for trade or cash.",
        ),
        "extras": {
            "ids": [{"source": "HD Marketplace", "sequence": "1", "value": "11324"}],
            "vendor": None,
            "provider": "Marketplace - Value My Trade",
        },
    },
}


def test_every_real_fixture_has_expectations():
    assert sorted(path.name for path in REAL.glob("*.xml")) == sorted(REAL_EXPECTED)


@pytest.mark.parametrize("name", sorted(REAL_EXPECTED))
def test_real_fixture(name):
    expected = REAL_EXPECTED[name]
    prospect = parse_one(REAL / name)

    assert prospect.index == 0
    data = dict(prospect.data)
    message = data.pop("message", None)
    assert data == expected["data"]
    if expected["message"] is None:
        assert message is None
    else:
        first_line, last_line = expected["message"]
        assert message.splitlines()[0] == first_line
        assert message.splitlines()[-1] == last_line
    for key, value in expected["extras"].items():
        assert prospect.extras[key] == value, key
    json.dumps(prospect.data)
    json.dumps(prospect.extras)


@pytest.mark.parametrize("name", sorted(REAL_EXPECTED))
def test_real_fixture_keeps_requestdate_raw(name):
    prospect = parse_one(REAL / name)
    assert prospect.extras["request_date_raw"].strip() == prospect.data["received_at"]


def test_01_crlf_phones_all_kept_but_fax_and_pager_never_chosen():
    prospect = parse_one(REAL / "01-adfparser-lending-lead-crlf.xml")
    assert prospect.extras["phones"] == [
        {"number": "1234567890", "type": "phone", "time": "morning", "preferred": True},
        {"number": "9999999999", "type": "cellphone", "time": "afternoon", "preferred": False},
        {"number": "9999999999", "type": "pager", "time": "evening", "preferred": False},
        {"number": "9999999999", "type": "fax", "time": "day", "preferred": False},
    ]
    assert prospect.extras["emails"] == [{"address": "testemail@domain.com", "preferred": True}]
    assert prospect.extras["address"] == {
        "street": "6299 Airport Road",
        "apartment": "",
        "city": "Mississauga",
        "region": "ON",
        "postal": "L4V1N3",
        "country": "Canada",
    }
    assert "external_id" not in prospect.data  # the only <id> is empty
    assert len(prospect.data["message"].splitlines()) == 11
    assert "\r" not in prospect.data["message"]


def test_02_custom_tags_are_listed_and_kept():
    prospect = parse_one(REAL / "02-fetchauto-no-vehicle-custom-tags.xml")
    assert prospect.extras["unknown_elements"] == ["employment", "ownershiptype"]
    assert prospect.extras["custom"]["customer/employment/employer"] == "Telus"
    assert prospect.extras["custom"]["customer/contact/address/ownershiptype"] == "own"
    assert prospect.extras["vehicles"] == []
    assert prospect.extras["address"]["country"] == "CA"


def test_03_empty_vehicle_is_kept_in_extras_only():
    prospect = parse_one(REAL / "03-fetchauto-single-line-cdata.xml")
    [vehicle] = prospect.extras["vehicles"]
    assert (vehicle["interest"], vehicle["status"]) == (None, None)
    assert (vehicle["year"], vehicle["make"], vehicle["model"]) == ("", "", "")
    assert "vehicle" not in prospect.data
    assert len(prospect.data["message"].splitlines()) == 11  # the CDATA block, dedented


def test_04_full_vehicle_in_extras():
    prospect = parse_one(REAL / "04-activix-full-featured-custom-tags.xml")
    [vehicle] = prospect.extras["vehicles"]
    assert vehicle["trim"] == "R-Design"
    assert vehicle["doors"] == "5"
    assert vehicle["bodystyle"] == "SUV"
    assert vehicle["transmission"] == "A"
    assert vehicle["condition"] == "excellent"
    assert vehicle["odometer"] == {"value": "1500", "status": "original", "units": "km"}
    assert vehicle["colors"] == [
        {"interior": "Red", "exterior": "Black", "preference": "1"},
        {"interior": "Black", "exterior": "Gray", "preference": "2"},
    ]
    assert vehicle["price"] == {"value": "59999.99", "type": "msrp", "currency": "CAD"}
    assert vehicle["pricecomments"] == "Anniversary Edition"
    assert vehicle["comments"] == "Demo car"
    assert vehicle["options"] == [
        {
            "name": "Sport seats",
            "code": "F0823343",
            "stock": "33323",
            "weighting": "+50",
            "price": {"value": "1460.99", "type": "msrp", "currency": "CAD"},
        }
    ]
    finance = {
        "method": "finance",
        "amounts": [
            {"type": "downpayment", "value": "10000", "currency": "CAD"},
            {"type": "monthly", "value": "425.25", "currency": "CAD"},
        ],
        "balance": None,
    }
    assert vehicle["finance"] == finance
    assert prospect.extras["finance"] == finance
    assert prospect.extras["timeframe"] == {
        "description": "Changing car soon.",
        "earliestdate": "2020-05-01T15:30:00-04:00",
        "latestdate": None,
    }
    assert prospect.extras["address"]["street"] == ""
    assert prospect.extras["address"]["city"] == ""
    assert {"gender", "birthday", "locale", "term", "rate", "campaign", "navigationhistory"} <= set(
        prospect.extras["unknown_elements"]
    )
    assert prospect.extras["custom"]["vehicle[0]/finance/term"] == "24"
    assert prospect.extras["custom"]["provider/campaign"] == "Red Tag Sale"


def test_09_both_vehicles_kept_first_one_is_the_lead_vehicle():
    prospect = parse_one(REAL / "09-adfbuilder-two-vehicles-no-interest.xml")
    vehicles = prospect.extras["vehicles"]
    assert [(v["status"], v["year"], v["make"], v["model"]) for v in vehicles] == [
        ("new", "2021", "Ford", "F-150"),
        ("used", "2023", "Tesla", "Cybertruck"),
    ]
    assert prospect.extras["phones"] == [
        {"number": "555-1234", "type": "cell", "time": None, "preferred": False}
    ]


def test_10_vehicle_comment_is_not_the_customer_message():
    prospect = parse_one(REAL / "10-adfbuilder-pi-before-xml-decl.xml")
    assert prospect.extras["vehicles"][0]["comments"] == "This is a comment"
    assert "message" not in prospect.data


def test_12_trade_in_odometer_with_misspelled_attribute_is_kept_raw():
    prospect = parse_one(REAL / "12-tradeaccelerator-buy-plus-tradein.xml")
    buy, trade = prospect.extras["vehicles"]
    assert buy["status"] == "USED"  # extras keep what was written; data lower-cases
    assert (buy["stock"], buy["vin"]) == ("", "")
    assert buy["price"] == {"value": "0.00", "currency": "USD"}
    assert trade["interest"] == "trade-in"
    assert trade["odometer"] == {"value": "", "unit": "MILES"}
    assert "mileage_km" not in prospect.data["trade_in"]


def test_13_sell_vehicle_without_details_stays_in_extras():
    prospect = parse_one(REAL / "13-hdmarketplace-sell-empty-vehicle.xml")
    [vehicle] = prospect.extras["vehicles"]
    assert (vehicle["interest"], vehicle["status"]) == ("sell", "")
    assert "trade_in" not in prospect.data
    assert "vehicle" not in prospect.data
    assert "Model: XL883C" in prospect.data["message"]


# --- Crafted documents -------------------------------------------------------------


def test_three_prospects_each_returned_in_order():
    prospects = parse_file(CRAFTED / "three-prospects.xml")
    assert [p.index for p in prospects] == [0, 1, 2]
    first, no_contact, third = prospects

    assert first.data["customer"] == {
        "first_name": "Jan",
        "last_name": "de Vries",
        "email": "jan@example.nl",
        "phone": "06 12345678",
    }
    assert first.data["message"] == "Wat kan er van de prijs af?"

    # No usable e-mail or phone: returned anyway, the caller decides.
    assert no_contact.data["customer"] == {"first_name": "Cher"}
    assert no_contact.data["external_id"] == "AS-1002"  # no source attribute, but the only one
    assert no_contact.extras["prospect_status"] == "resend"
    assert no_contact.extras["phones"] == [] and no_contact.extras["emails"] == []

    assert third.data["external_id"] == "AS-1003"  # the <id> with a source wins
    assert [i["value"] for i in third.extras["ids"]] == ["", "AS-1003-unsourced", "AS-1003"]
    assert third.data["customer"]["phone"] == "+31 30 123 4567"
    assert "vehicle" not in third.data


def test_full_name_split_and_best_phone_and_preferred_email():
    prospect = parse_one(CRAFTED / "full-name-phones.xml")
    assert prospect.data["customer"] == {
        "first_name": "Sanne",
        "last_name": "Bakker",
        "email": "sanne@example.nl",  # the preferred one, though second
        "phone": "06 98765432",  # cellphone; the preferred fax and the pager are not callable
    }
    assert [(p["type"], p["time"]) for p in prospect.extras["phones"]] == [
        ("fax", "day"),
        ("pager", "day"),
        ("voice", "evening"),
        ("cellphone", "morning"),
        (None, "afternoon"),
    ]
    assert prospect.extras["address"]["street"] == "Damrak 1, 3e verdieping"
    assert prospect.extras["timeframe"] == {
        "description": "Binnen een maand",
        "earliestdate": None,
        "latestdate": "2026-12-31",
    }
    assert prospect.extras["vendor"] == "Autohuis Demo"  # no vendorname: the contact's name parts
    assert prospect.extras["provider"] == "Marktplaats"
    assert prospect.data["vehicle"]["interest"] == "test-drive"


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ('<name part="full">Test user</name>', {"first_name": "Test", "last_name": "user"}),
        ('<name type="full">Anna van Dijk</name>', {"first_name": "Anna van", "last_name": "Dijk"}),
        ("<name>Cher</name>", {"first_name": "Cher"}),
        ('<name part="last">Jansen</name>', {"last_name": "Jansen"}),
        (
            '<name type="first">Eva</name><name type="last">Smit</name>',
            {"first_name": "Eva", "last_name": "Smit"},
        ),
        ('<name part="surname">Smit</name><name part="full">Eva Smit</name>', {"last_name": "Smit"}),
        ('<name part="first"> </name>', {}),
    ],
)
def test_name_parts(names, expected):
    [prospect] = parse_adf(minimal_adf(f"<contact>{names}</contact>").encode())
    assert prospect.data["customer"] == expected


@pytest.mark.parametrize(
    ("phones", "expected"),
    [
        ('<phone type="voice">1</phone><phone type="cellphone">2</phone>', "2"),
        ('<phone type="cellphone">2</phone><phone type="voice" preferredcontact="1">1</phone>', "1"),
        ('<phone type="work">3</phone><phone>1</phone>', "1"),
        ('<phone type="mobile">2</phone><phone type="cellphone">3</phone>', "2"),
        ('<phone type="fax">9</phone><phone type="pager">8</phone>', None),
        ('<phone type="FAX" preferredcontact="1">9</phone><phone type="home">4</phone>', "4"),
    ],
)
def test_phone_choice(phones, expected):
    [prospect] = parse_adf(minimal_adf(f"<contact>{phones}</contact>").encode())
    assert prospect.data["customer"].get("phone") == expected


def test_two_vehicles_plus_trade_in_in_miles():
    prospect = parse_one(CRAFTED / "two-vehicles-trade-in-miles.xml")
    assert prospect.data["vehicle"] == {
        "interest": "buy",
        "status": "used",
        "make": "Hyundai",
        "model": "Tucson",
        "year": 2023,
        "vin": "KMHJ3814GPU000001",
        "stock_number": "A1234",
        "price": 32950.0,
        "currency": "EUR",
        "mileage_km": 16093,  # 10,000 mi
        "url": "https://dealer.example/voorraad/A1234",
    }
    assert prospect.data["trade_in"] == {"make": "Kia", "model": "Picanto", "year": 2015, "mileage_km": 96561}
    assert [v["interest"] for v in prospect.extras["vehicles"]] == ["Trade-In", "Buy", "lease"]
    assert prospect.extras["vehicles"][1]["trim"] == "Premium"
    assert prospect.extras["finance"] == {
        "method": "lease",
        "amounts": [{"type": "monthly", "limit": "maximum", "currency": "EUR", "value": "450"}],
        "balance": {"type": "residual", "currency": "EUR", "value": "12000"},
    }


@pytest.mark.parametrize(
    ("odometer", "expected"),
    [
        ("<odometer>18000</odometer>", 18000),
        ('<odometer units="km">18,000</odometer>', 18000),
        ('<odometer units="MI">1</odometer>', 2),
        ('<odometer unit="miles">100</odometer>', 161),
        ('<odometer units="hours">300</odometer>', None),
        ("<odometer>unknown</odometer>", None),
    ],
)
def test_mileage_km(odometer, expected):
    body = f"<adf><prospect><vehicle><make>Kia</make>{odometer}</vehicle></prospect></adf>"
    [prospect] = parse_adf(body.encode())
    assert prospect.data["vehicle"].get("mileage_km") == expected


@pytest.mark.parametrize(
    ("vehicle", "expected"),
    [
        ("<year>twenty</year><make>Kia</make>", {"make": "Kia"}),
        ('<make>Kia</make><price currency="EUR">nan</price>', {"make": "Kia"}),
        ('<make>Kia</make><price currency="EUR">-5</price>', {"make": "Kia"}),
        (
            '<make>Kia</make><price currency="EUR">12500.50</price>',
            {"make": "Kia", "price": 12500.5, "currency": "EUR"},
        ),
        ("<make>Kia</make><price>12500</price>", {"make": "Kia", "price": 12500.0}),
    ],
)
def test_vehicle_numbers_only_when_they_parse(vehicle, expected):
    [prospect] = parse_adf(f"<adf><prospect><vehicle>{vehicle}</vehicle></prospect></adf>".encode())
    assert prospect.data["vehicle"] == expected


def test_first_identifiable_vehicle_is_the_lead_vehicle():
    body = (
        "<adf><prospect>"
        '<vehicle interest="buy"><year/><make/><model/></vehicle>'
        '<vehicle interest="sell"><make>Opel</make></vehicle>'
        '<vehicle interest="lease" status="new"><make>Kia</make></vehicle>'
        "</prospect></adf>"
    )
    [prospect] = parse_adf(body.encode())
    assert prospect.data["vehicle"] == {"interest": "lease", "status": "new", "make": "Kia"}
    assert prospect.data["trade_in"] == {"make": "Opel"}


def test_utf16_with_bom():
    prospect = parse_one(CRAFTED / "utf16-bom.xml")
    assert (CRAFTED / "utf16-bom.xml").read_bytes().startswith(codecs.BOM_UTF16_LE)
    assert prospect.data["customer"]["first_name"] == "Zoë"
    assert prospect.data["customer"]["last_name"] == "Çelik"
    assert prospect.data["message"] == "Prijs € 12.500 — akkoord?"


def test_latin1_declared_and_encoded():
    prospect = parse_one(CRAFTED / "latin1-declared.xml")
    assert prospect.data["customer"]["first_name"] == "Jérôme"  # not "JÃ©rÃ´me"
    assert prospect.data["customer"]["last_name"] == "Müller"
    assert prospect.data["message"] == "Très intéressé, à bientôt"
    assert prospect.extras["vendor"] == "Garage Démo"


def test_declared_utf16_but_bytes_are_utf8():
    prospect = parse_one(CRAFTED / "declared-utf16-bytes-utf8.xml")
    assert prospect.data["customer"]["first_name"] == "Renée"
    assert prospect.data["customer"]["last_name"] == "Lefèvre"


@pytest.mark.parametrize("padding", [b"", b" "])  # odd and even lengths decode differently as UTF-16
def test_declared_utf16_but_bytes_are_ascii(padding):
    body = b'<?xml version="1.0" encoding="UTF-16"?>' + minimal_adf().encode("ascii") + padding
    [prospect] = parse_adf(body)
    assert prospect.data["customer"] == {"email": "a@example.com"}


def test_declared_utf8_but_bytes_are_latin1():
    prospect = parse_one(CRAFTED / "declared-utf8-bytes-latin1.xml")
    assert prospect.data["customer"]["first_name"] == "François"
    assert prospect.data["customer"]["last_name"] == "Noël"
    assert prospect.data["message"] == "Budget € 9.000, graag snel"  # windows-1252's euro sign


def test_unknown_declared_encoding_is_read_as_utf8():
    body = '<?xml version="1.0" encoding="x-portal-8bit"?>' + minimal_adf(
        "<contact><name>Zoë</name></contact>"
    )
    [prospect] = parse_adf(body.encode("utf-8"))
    assert prospect.data["customer"] == {"first_name": "Zoë"}


def test_adf_pi_before_xml_declaration_with_bom_and_crlf():
    raw = (CRAFTED / "adf-pi-before-decl-bom.xml").read_bytes()
    assert raw.startswith(codecs.BOM_UTF8) and b"\r\n" in raw
    assert raw.index(b"<?ADF") < raw.index(b"<?xml")
    prospect = parse_one(CRAFTED / "adf-pi-before-decl-bom.xml")
    assert prospect.data["customer"] == {
        "first_name": "Søren",
        "last_name": "Ødegård",
        "phone": "06 11111111",
    }


def test_vendor_extensions_namespaces_case_and_non_iso_date():
    prospect = parse_one(CRAFTED / "vendor-extensions-non-iso-date.xml")
    assert prospect.data == {
        "external_id": "EP-42",
        "received_at": "12/05/2026 3:04 PM",  # kept raw; the caller decides what it means
        "customer": {
            "first_name": "Élodie",
            "last_name": "Tremblay",
            "email": "elodie@example.ca",
            "phone": "514-555-0199",
            "language": "fr",
        },
        "vehicle": {"interest": "buy", "status": "new", "make": "Toyota", "model": "RAV4", "year": 2026},
    }
    assert prospect.extras["prospect_status"] == "NEW"
    assert prospect.extras["unknown_elements"] == ["color", "consent", "leadscore", "locale", "tracking"]
    assert prospect.extras["custom"]["customer/tracking/utm_source"] == "newsletter"
    assert prospect.extras["custom"]["leadscore"] == "87"


def test_control_characters_from_form_fields_are_read():
    body = minimal_adf("<contact><name>Jan\x0b</name></contact><comments>Hallo\x0cdaar</comments>")
    [prospect] = parse_adf(body.encode())
    assert prospect.data["customer"] == {"first_name": "Jan"}
    assert prospect.data["message"] == "Hallo daar"


def test_body_of_exactly_max_bytes_is_read():
    document = minimal_adf().encode()
    [prospect] = parse_adf(document + b" " * (MAX_BYTES - len(document)))
    assert prospect.data["customer"] == {"email": "a@example.com"}


@pytest.mark.parametrize("path", sorted([*CRAFTED.glob("*.xml"), *REAL.glob("*.xml")]), ids=lambda p: p.name)
def test_everything_returned_is_json_serialisable(path):
    for prospect in parse_file(path):
        assert json.loads(json.dumps({"data": prospect.data, "extras": prospect.extras}))


# --- Refused documents -------------------------------------------------------------

SLOW = 0.5  # seconds; every refusal must be much quicker than this


def assert_refused(body: bytes, code: str) -> AdfRefused:
    started = time.perf_counter()
    with pytest.raises(AdfRefused) as refused:
        parse_adf(body)
    assert time.perf_counter() - started < SLOW
    assert refused.value.code == code, refused.value.reason
    assert refused.value.reason and str(refused.value) == refused.value.reason
    return refused.value


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("xxe.xml", "forbidden_dtd"),
        ("xxe-parameter-entity.xml", "forbidden_dtd"),
        ("xxe-after-adf-pi.xml", "forbidden_dtd"),  # still refused on the recovery path
        ("billion-laughs.xml", "forbidden_dtd"),
        ("doctype.xml", "forbidden_dtd"),
        ("truncated.xml", "malformed"),
        ("html-root.xml", "not_adf"),
        ("no-prospect.xml", "not_adf"),
        ("lead.json", "malformed"),
    ],
)
def test_hostile_fixture_refused(name, code):
    assert_refused((HOSTILE / name).read_bytes(), code)


def test_xxe_never_reads_the_file():
    refused = assert_refused((HOSTILE / "xxe.xml").read_bytes(), "forbidden_dtd")
    assert "root:" not in refused.reason


def test_malformed_reason_has_line_and_column():
    refused = assert_refused((HOSTILE / "truncated.xml").read_bytes(), "malformed")
    assert "line 10, column 0" in refused.reason


def test_too_large_checked_before_parsing():
    refused = assert_refused(b"<adf>" + b"x" * (2 * 1024 * 1024) + b"</adf>", "too_large")
    assert "1 MiB" in refused.reason


@pytest.mark.parametrize(
    "body", [b"", b"   \r\n\t ", codecs.BOM_UTF8, codecs.BOM_UTF16_LE + " \n".encode("utf-16-le")]
)
def test_empty(body):
    assert_refused(body, "empty")


@pytest.mark.parametrize(
    "body",
    [
        random.Random(7).randbytes(4096),
        b"\x89PNG\r\n\x1a\n" + random.Random(8).randbytes(512),
        b"customer=Jan&email=jan%40example.nl",
        b"<adf><prospect></adf>",
        b"<adf><prospect><customer>&bogus;</customer></prospect></adf>",
        b"<adf/><adf/>",
        b'<?xml version="1.0"?><x:adf><prospect/></x:adf>',  # unbound namespace prefix
    ],
)
def test_garbage_is_malformed(body):
    assert_refused(body, "malformed")


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>Hello</body></html>",
        b'<?xml version="1.0"?><leads><prospect/></leads>',
        b"<adf/>",
        b"<adf><lead/></adf>",
    ],
)
def test_not_adf(body):
    assert_refused(body, "not_adf")


def test_root_and_prospect_tags_are_case_insensitive():
    [prospect] = parse_adf(
        b"<ADF><PROSPECT><Customer><Contact><EMAIL>a@b.nl</EMAIL></Contact></Customer></PROSPECT></ADF>"
    )
    assert prospect.data == {"customer": {"email": "a@b.nl"}}


def test_deep_nesting_is_read_without_recursion():
    # How fast is for bench/, not a unit test on a shared machine; this one says 50,000 levels neither recurse nor fail.
    depth = 50_000
    body = minimal_adf("<contact><email>a@b.nl</email></contact>" + "<x>" * depth + "</x>" * depth).encode()
    [prospect] = parse_adf(body)
    assert prospect.extras["unknown_elements"] == ["x"]


@pytest.mark.parametrize("path", sorted(REAL.glob("*.xml")), ids=lambda p: p.name)
def test_damaged_real_documents_never_raise_anything_but_adf_refused(path):
    original = path.read_bytes()
    rng = random.Random(path.name)
    damaged = [original[:cut] for cut in range(0, len(original), 97)]
    for _ in range(40):
        body = bytearray(original)
        for _ in range(3):
            body[rng.randrange(len(body))] = rng.randrange(256)
        damaged.append(bytes(body))
    for body in damaged:
        try:
            prospects = parse_adf(body)
        except AdfRefused as refused:
            assert refused.code in {"empty", "malformed", "forbidden_dtd", "not_adf"}
        else:
            json.dumps([(p.data, p.extras) for p in prospects])
