"""POST /api/v1/leads/adf/: each prospect on its own; unreadable documents refused with a reason, storing nothing."""

from pathlib import Path

import pytest

from leads.models import InboundDocument, Lead

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "adf"


def post_adf(client, body: bytes, content_type="application/xml", **headers):
    return client.generic("POST", "/api/v1/leads/adf/", body, content_type=content_type, **headers)


def test_each_prospect_stands_on_its_own(portal, cast):
    body = (FIXTURES / "crafted" / "three-prospects.xml").read_bytes()
    response = post_adf(portal, body)
    assert response.status_code == 201, response.content
    result = response.json()
    assert len(result["leads"]) == 2
    assert result["rejected"][0]["index"] == 1 and result["rejected"][0]["errors"]
    leads = Lead.objects.unscoped().order_by("received_at")
    assert [lead.external_id for lead in leads] == ["AS-1001", "AS-1003"]
    assert leads[0].customer.phone == "+31612345678" and leads[0].vehicle["model"] == "Tucson"
    assert leads[0].message.startswith("Wat kan er van de prijs af")
    document = InboundDocument.objects.unscoped().get()
    assert bytes(document.body) == body  # the whole document kept as received
    assert all(lead.document_id == document.pk for lead in leads)


def test_resending_the_same_document_creates_nothing_new(portal):
    body = (FIXTURES / "crafted" / "three-prospects.xml").read_bytes()
    post_adf(portal, body)
    again = post_adf(portal, body).json()
    assert [lead["duplicate"] for lead in again["leads"]] == [True, True]
    assert Lead.objects.unscoped().count() == 2


NO_CONTACT = {"10-adfbuilder-pi-before-xml-decl.xml"}  # an empty <customer/> (SOURCES.md): nothing to follow up


@pytest.mark.parametrize("name", sorted(p.name for p in (FIXTURES / "real").glob("*.xml") if p.name not in NO_CONTACT))
def test_every_real_feed_fixture_with_a_contact_is_accepted(portal, name):
    response = post_adf(portal, (FIXTURES / "real" / name).read_bytes(), content_type="text/xml")
    assert response.status_code == 201, response.content
    assert len(response.json()["leads"]) >= 1


@pytest.mark.parametrize("name", ["adf-pi-before-decl-bom.xml", "declared-utf16-bytes-utf8.xml", "declared-utf8-bytes-latin1.xml",
                                  "latin1-declared.xml", "utf16-bom.xml", "vendor-extensions-non-iso-date.xml"])
def test_messy_but_readable_documents_are_read(portal, name):
    response = post_adf(portal, (FIXTURES / "crafted" / name).read_bytes())
    assert response.status_code == 201, response.content


def test_non_iso_request_date_is_kept_raw(portal):
    post_adf(portal, (FIXTURES / "crafted" / "vendor-extensions-non-iso-date.xml").read_bytes())
    lead = Lead.objects.unscoped().get()
    assert lead.received_at_raw and "T" not in lead.received_at_raw


@pytest.mark.parametrize("name", ["xxe.xml", "xxe-parameter-entity.xml", "xxe-after-adf-pi.xml", "billion-laughs.xml",
                                  "doctype.xml", "truncated.xml", "html-root.xml", "no-prospect.xml"])
def test_hostile_or_unreadable_documents_are_refused_with_a_reason_and_store_nothing(portal, name):
    response = post_adf(portal, (FIXTURES / "crafted" / "hostile" / name).read_bytes())
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"]
    assert InboundDocument.objects.unscoped().count() == 0 and Lead.objects.unscoped().count() == 0


def test_two_mebibytes_is_413_and_stores_nothing(portal):
    body = b"<adf><prospect>" + b" " * (2 * 1024 * 1024) + b"</prospect></adf>"
    assert post_adf(portal, body).status_code == 413
    assert InboundDocument.objects.unscoped().count() == 0


def test_json_to_the_adf_endpoint_is_415(portal):
    response = portal.post("/api/v1/leads/adf/", {"customer": {"email": "a@b.nl"}}, format="json")
    assert response.status_code == 415


def test_the_real_feed_without_any_contact_is_read_but_refused_as_a_lead(portal):
    response = post_adf(portal, (FIXTURES / "real" / "10-adfbuilder-pi-before-xml-decl.xml").read_bytes())
    assert response.status_code == 400
    assert response.json()["rejected"][0]["index"] == 0  # read (despite the misplaced declaration), but no contact


def test_a_document_where_no_prospect_has_contact_is_400_with_the_rejections(portal):
    body = b"""<?xml version="1.0"?><adf><prospect><id source="x">1</id><customer><contact><name part="full">Anoniem</name>
    </contact></customer></prospect></adf>"""
    response = post_adf(portal, body)
    assert response.status_code == 400
    assert response.json()["rejected"][0]["index"] == 0
    assert InboundDocument.objects.unscoped().count() == 0


def test_adf_needs_a_key(client):
    response = client.generic("POST", "/api/v1/leads/adf/", b"<adf/>", content_type="application/xml")
    assert response.status_code == 401
