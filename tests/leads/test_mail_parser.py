"""leads.mail.parse_message against every shared fixture's expected values, our Dutch variants, and hostile MIME."""

import json
import re
from pathlib import Path

import pytest
from django.conf import settings

from leads.mail import NotAMail, parse_message
from leads.quality import normalise_phone

SHARED = settings.BASE_DIR.parent / "shared" / "fixtures" / "mail"
OWN = Path(__file__).resolve().parents[1] / "fixtures" / "mail"


def _shared_expected() -> dict:
    path = SHARED / "expected.json"
    if not path.is_file():  # fail loudly: a missing shared folder must not turn into zero tests that pass
        raise RuntimeError(f"The shared mail fixtures are missing: {path} (expected ../shared beside the repo)")
    return json.loads(path.read_text())


EXPECTED = _shared_expected()
OWN_EXPECTED = json.loads((OWN / "expected.json").read_text())


def _digits(value: str) -> str:
    e164, _raw = normalise_phone(value, region="NL")
    return e164 or re.sub(r"\D", "", value)


def check_against(reading, expected: dict) -> None:
    if not expected["lead"]:
        assert reading.leads == [], reading.leads
        assert reading.ignored == expected["why_not"]
        return
    assert reading.ignored is None
    assert len(reading.leads) == 1, reading.leads
    lead = reading.leads[0]
    customer, vehicle, trade_in = lead["customer"], lead.get("vehicle") or {}, lead.get("trade_in") or {}
    assert (reading.source or "unknown") == expected["source"]
    assert reading.kind == expected["kind"]
    assert lead["channel"] == ("call" if expected["kind"] == "call" else "email")
    assert lead["needs_review"] is expected["needs_review"]
    if "name" in expected:
        name = f"{customer.get('first_name', '')} {customer.get('last_name', '')}".strip()
        assert name.lower() == expected["name"].lower()
    if "email" in expected:
        assert customer["email"].lower() == expected["email"].lower()
    if "phone" in expected:
        assert customer["phone"] == expected["phone"]  # as written; the intake normalises it
    if "message_contains" in expected:
        assert expected["message_contains"] in lead["message"]
    for key in ("make", "model", "year"):
        if f"vehicle_{key}" in expected:
            assert vehicle.get(key) == expected[f"vehicle_{key}"], vehicle
    if "plate" in expected:
        assert vehicle.get("plate") == expected["plate"]
    if "trade_in_plate" in expected:
        assert trade_in.get("plate") == expected["trade_in_plate"]
    for key in ("trade_in_make", "trade_in_model"):
        if key in expected:
            assert trade_in.get(key.removeprefix("trade_in_")) == expected[key]
    if "trade_in_mileage_km" in expected:
        assert trade_in.get("mileage_km") == expected["trade_in_mileage_km"]
    if "trade_in_remarks_contains" in expected:
        assert expected["trade_in_remarks_contains"] in trade_in.get("remarks", "")
    if "ad_url_contains" in expected:
        assert expected["ad_url_contains"] in (vehicle.get("url") or "")
    if "price" in expected:
        assert float(vehicle.get("price")) == expected["price"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shared_fixture_reads_as_expected(name):
    check_against(parse_message((SHARED / name).read_bytes()), EXPECTED[name])


@pytest.mark.parametrize("name", sorted(OWN_EXPECTED))
def test_dutch_variant_reads_as_expected(name):
    check_against(parse_message((OWN / name).read_bytes()), OWN_EXPECTED[name])


def test_every_fixture_file_has_expected_values():
    assert sorted(p.name for p in SHARED.glob("*.eml")) == sorted(EXPECTED)
    assert sorted(p.name for p in OWN.glob("*.eml")) == sorted(OWN_EXPECTED)


def test_the_euro_survives_windows_1252_bytes_declared_iso_8859_1():
    raw = (b"From: Jan Jansen <jan@example.nl>\r\nSubject: Vraag\r\nMessage-ID: <cp1252@example.nl>\r\n"
           b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\nIs \x80 12.500 uw laatste prijs? Groet, Jan\r\n")
    reading = parse_message(raw)
    assert "€ 12.500" in reading.leads[0]["message"]


def test_the_customer_number_in_an_autoscout24_subject_is_never_the_phone():
    raw = (b"From: AutoScout24 <noreply@autoscout24.com>\nSubject: Gemiste oproep - Klantnr: 0612345678\n"
           b"Message-ID: <klantnr@autoscout24.com>\nContent-Type: text/plain; charset=utf-8\n\n"
           b"Gemiste oproep\nKlantnr: 0612345678\nU heeft een oproep gemist van 020 7654321 om 10:12.\n")
    reading = parse_message(raw)
    assert reading.kind == "call" and reading.leads[0]["customer"]["phone"] == "020 7654321"


def test_an_answered_call_is_no_lead_but_names_the_number():
    raw = (b"From: AutoScout24 <noreply@autoscout24.com>\nSubject: Aangenomen oproep - Klantnr: 771234\n"
           b"Message-ID: <answered@autoscout24.com>\nContent-Type: text/plain; charset=utf-8\n\n"
           b"Aangenomen oproep\nTelefoonnummer: 06 11122233\nDuur: 3:12\n")
    reading = parse_message(raw)
    assert reading.ignored == "call-answered" and reading.leads == []
    assert reading.answered_phone == "06 11122233"


@pytest.mark.parametrize("headers, reason", [
    (b"From: MAILER-DAEMON@mx.example.nl\nSubject: Undelivered Mail Returned to Sender\n", "bounce"),
    (b"From: Piet <piet@example.nl>\nSubject: Re: uw offerte\nX-Autoreply: yes\n", "auto-reply"),
    (b"From: Piet <piet@example.nl>\nSubject: Re: uw offerte\nX-Autorespond: yes\n", "auto-reply"),
    (b"From: Piet <piet@example.nl>\nSubject: Out of Office: uw offerte\n", "auto-reply"),
    (b"From: Piet <piet@example.nl>\nSubject: Afwezig\n", "auto-reply"),
    (b"From: Marktplaats <nieuws@mail.marktplaats.nl>\nSubject: Verbeter uw verkoopkansen deze maand\n"
     b"List-Unsubscribe: <https://marktplaats.nl/u>\n", "marketing"),
    (b"From: AutoScout24 <info@autoscout24.com>\nSubject: Uw advertentiekwaliteit in november\n", "marketing"),
])
def test_not_leads(headers, reason):
    raw = headers + b"Message-ID: <x@example.nl>\nContent-Type: text/plain\n\nBeste verkoper, bel mij op 0612345678.\n"
    reading = parse_message(raw)
    assert reading.ignored == reason and reading.leads == []


def test_a_portal_notice_marked_auto_generated_is_still_a_lead():
    raw = (SHARED / "22-autotrack-test-drive.eml").read_bytes()
    raw = raw.replace(b"MIME-Version", b"Auto-Submitted: auto-generated\nMIME-Version", 1)
    assert parse_message(raw).leads


def test_sent_at_outside_a_sane_range_is_none():
    base = b"From: a@example.nl\nMessage-ID: <d@example.nl>\nSubject: x\nDate: %s\n\nhallo\n"
    assert parse_message(base % b"Mon, 12 Jan 2026 15:47:21 +0100").sent_at.year == 2026
    assert parse_message(base % b"Tue, 1 Jan 1980 00:00:00 +0000").sent_at is None
    assert parse_message(base % b"Sat, 1 Jan 2101 00:00:00 +0000").sent_at is None
    assert parse_message(base % b"gisteren rond de middag").sent_at is None


@pytest.mark.parametrize("raw", [b"", b"   \n\n", b"\x00\x01\x02binary \xff\xfe garbage", b"hello world, no headers here"])
def test_bytes_that_are_not_a_mail_are_refused(raw):
    with pytest.raises(NotAMail):
        parse_message(raw)


def test_deeply_nested_multiparts_are_read_without_crashing():
    depth = 400
    parts = [f"Content-Type: multipart/mixed; boundary=b{i}\n\n--b{i}\n" for i in range(depth)]
    raw = ("From: Jan <jan@example.nl>\nMessage-ID: <nest@example.nl>\nSubject: diep\n" + "".join(parts)
           + "Content-Type: text/plain\n\nIs de auto er nog?\n" + "".join(f"--b{i}--\n" for i in reversed(range(depth))))
    reading = parse_message(raw.encode())
    assert reading.leads and reading.leads[0]["customer"]["email"] == "jan@example.nl"


def test_deeply_nested_html_is_read_without_crashing():
    html = "<div>" * 50_000 + "Naam: Jan" + "</div>" * 50_000
    raw = ("From: Jan <jan@example.nl>\nMessage-ID: <html@example.nl>\nSubject: diep\nContent-Type: text/html\n\n"
           + html).encode()
    reading = parse_message(raw)
    assert reading.leads[0]["customer"]["email"] == "jan@example.nl"


def test_adf_pasted_html_escaped_into_an_html_body_is_read():
    import html

    adf = (SHARED / "05-cargurus-adf-body.eml").read_bytes().split(b"\n\n", 1)[1].decode()
    raw = ("From: leads@dealerfeed.example.com\nSubject: New lead\nMessage-ID: <a@b>\nContent-Type: text/html; charset=utf-8"
           "\n\n<html><body><pre>" + html.escape(adf) + "</pre></body></html>").encode()
    reading = parse_message(raw)
    assert reading.source == "adf" and reading.leads[0]["customer"]["email"] == "kylebran22@example.com"
    assert reading.leads[0]["vehicle"]["make"] == "RAM"


def test_adf_with_the_address_in_the_name_field_is_read_where_it_fits():
    adf = (SHARED / "05-cargurus-adf-body.eml").read_bytes()
    adf = adf.replace(b'<name part="first">Kyle</name>', b'<name part="first">kyle.b@example.com</name>')
    adf = adf.replace(b"<email preferredcontact=\"0\">kylebran22@example.com</email>", b"<email>8424174960</email>")
    adf = adf.replace(b"Reply-To: Kyle Brannigan <kylebran22@example.com>\n", b"")
    customer = parse_message(adf).leads[0]["customer"]
    assert customer["email"] == "kyle.b@example.com" and customer["phone"] == "5195550186"


def test_a_cargurus_phone_lead_is_a_call_to_return():
    raw = (b"From: CarGurus <dealer-leads@messages.cargurus.com>\nSubject: Phone Lead from CarGurus\nMessage-ID: <p@c>\n\n"
           b"Phone: 07712 000229\nDuration: 1 minutes, 15 seconds\n")
    reading = parse_message(raw)
    assert reading.kind == "call" and reading.leads[0]["customer"] == {"phone": "07712 000229"}
    assert reading.leads[0]["channel"] == "call"


def test_autotrader_inline_lead_and_carfax_request():
    inline = (b"From: no-reply@trader.ca\nSubject: Important Sales Lead from AutoTrader.ca\nMessage-ID: <q@t>\n\n"
              b"Name: Morgan\nEmail: morgan@example.com\nPhone: 6471234567\nSubject: Important Sales Lead from AutoTrader.ca\n"
              b"Trade-In?: No\ndescription:\nMessage Hi, I found your listing and would like to know more. Please send me "
              b"more information about your 2021 Tesla Model 3 Standard Range Plus.\nDealer Price:\nTrade In: Not specified\n"
              b"Stock Number: D9779\nPrice: $21,995\n")
    lead = parse_message(inline).leads[0]
    assert lead["customer"] == {"first_name": "Morgan", "email": "morgan@example.com", "phone": "6471234567"}
    assert "would like to know more" in lead["message"] and "trade_in" not in lead
    assert (lead["vehicle"]["make"], lead["vehicle"]["model"], lead["vehicle"]["year"]) == ("Tesla", "Model 3", 2021)
    carfax = (b"From: no-reply@trader.ca\nSubject: CARFAX request\nMessage-ID: <c@t>\n\nA potential customer is requesting a "
              b"CARFAX Canada report. Please send the CARFAX Canada report to: saif11@example.com, Phone: 6479658360.\n\n"
              b"Your Mercedes-Benz C-Class 2017 (Stock #: D9770) ad:\nhttps://www.autotrader.ca/go/5-69458424\n")
    lead = parse_message(carfax).leads[0]
    assert lead["customer"] == {"email": "saif11@example.com", "phone": "6479658360"}
    assert lead["vehicle"]["model"] == "C-Class" and lead["vehicle"]["year"] == 2017 and "CARFAX" in lead["message"]


def test_a_cazoo_enquiry_without_colons():
    raw = ("From: dealerleads@info.cazoo.co.uk\nSubject: Enquiry - Vauxhall Astra GTC BV17OSY - Sam\nMessage-ID: <cz@c>\n"
           "Content-Type: text/plain; charset=utf-8\n\nNew sales lead\nVauxhall Astra GTC\nBV17OSY Listed at \u00a34,995\n"
           "           Test drive\nCall Sam ( tel: )\nEmail Sam ( sam_18cobb@example.co.uk )\nCustomer message\n\n"
           "Enquiry type\n           Test drive\nCustomer details\nSam Cobb\n ( tel: )\nsam_18cobb@example.co.uk\n"
           "View vehicle advert ( https://www.cazoo.co.uk/car-78833512/ )\nCorrelationID: 5f1e-77\n").encode()
    reading = parse_message(raw)
    lead = reading.leads[0]
    assert reading.source == "cazoo" and reading.kind == "test_drive"
    assert lead["customer"] == {"email": "sam_18cobb@example.co.uk", "first_name": "Sam", "last_name": "Cobb"}
    assert lead["vehicle"]["plate"] == "BV17OSY" and lead["vehicle"]["price"] == "4995"
    assert lead["external_id"] == "5f1e-77" and "Test drive" in lead["message"]


def test_an_html_only_dealer_site_enquiry_in_a_table():
    raw = (b"From: noreply@cardealer5.co.uk\nSubject: Enquiry - BMW Z4 (EA59ODK) - Simon\nMessage-ID: <cd5@c>\n"
           b"Content-Type: multipart/alternative; boundary=X\n\n--X\nContent-Type: text/plain\n\nPlease use an HTML viewer\n"
           b"--X\nContent-Type: text/html\n\n<a href='https://radlett.example.com/'>home</a><h2>BMW Z4 sDrive23i</h2>"
           b"<a href='https://radlett.example.com/cars/1546657'>View car</a><table><tr><td>Name</td><td>Simon Price</td></tr>"
           b"<tr><td>Phone</td><td><a href='tel:07700900111'>07700 900111</a></td></tr><tr><td>Email</td><td>"
           b"<a href='mailto:simon@example.com'>simon@example.com</a></td></tr><tr><td>Message</td><td>Is the Z4 still "
           b"available?</td></tr><tr><td>GDPR Contact</td><td>Email, Phone</td></tr></table>\n--X--\n")
    reading = parse_message(raw)
    lead = reading.leads[0]
    assert reading.source == "website" and lead["message"] == "Is the Z4 still available?"
    assert lead["vehicle"] == {"make": "BMW", "model": "Z4", "plate": "EA59ODK",
                               "url": "https://radlett.example.com/cars/1546657"}


def test_a_lead_whose_footer_talks_marketing_is_still_a_lead():
    raw = (SHARED / "22-autotrack-test-drive.eml").read_bytes().replace(
        b"Wat vond je van deze e-mail?", b"Lees onze tips voor uw advertentie en vergroot uw verkoopkansen.")
    reading = parse_message(raw)
    assert reading.ignored is None and reading.leads[0]["customer"]["email"] == "thijs.vanleeuwen@example.nl"


def test_a_mail_forwarded_as_an_attachment_is_read_as_the_inner_lead():
    inner = (SHARED / "19-marktplaats-call-missed.eml").read_bytes()
    raw = (b"From: Info <info@vandalen-auto.example.nl>\nSubject: FW: gemiste oproep\nMessage-ID: <fw-att@x>\n"
           b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=Z\n\n--Z\nContent-Type: text/plain\n\nZie bijlage.\n"
           b"--Z\nContent-Type: message/rfc822\nContent-Disposition: attachment\n\n" + inner + b"\n--Z--\n")
    reading = parse_message(raw)
    assert reading.forwarded and reading.source == "marktplaats" and reading.kind == "call"
    assert reading.leads[0]["customer"]["phone"] == "0612345604"


def test_an_outlook_html_forward_in_dutch_is_unwrapped():
    raw = (b"From: Info <info@vandalen-auto.example.nl>\nSubject: Doorst: Nieuwe aanvraag\nMessage-ID: <fw-html@x>\n"
           b"Content-Type: text/html; charset=utf-8\n\n<div>Graag oppakken</div><hr><p><b>Van:</b> AutoScout24 "
           b"&lt;noreply@autoscout24.com&gt;<br><b>Verzonden:</b> maandag 12 januari 2026 15:47<br><b>Aan:</b> info<br>"
           b"<b>Onderwerp:</b> Nieuwe aanvraag van Piet Kok voor uw Mazda CX-5</p><div>Bericht van de koper</div>"
           b"<div>Rijdt hij goed?</div><div>Naam: Piet Kok</div><div>Telefoonnummer: 0611112222</div>"
           b"<div>Antwoorden op: <a href='mailto:piet.kok@example.nl'>piet.kok@example.nl</a></div>")
    reading = parse_message(raw)
    lead = reading.leads[0]
    assert reading.source == "autoscout24" and reading.forwarded
    assert lead["customer"]["email"] == "piet.kok@example.nl" and lead["message"] == "Rijdt hij goed?"
    assert lead["vehicle"]["make"] == "Mazda" and lead["vehicle"]["model"] == "CX-5"
