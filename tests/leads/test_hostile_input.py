"""Issue 16, defects 2 and 6: hostile or unusual input at the API's edge is a 4xx, never a 5xx."""

import io
import json

import pytest
from rest_framework.test import APIClient

from leads.models import IdempotencyKey, InboundDocument, Lead
from tests.conftest import team_client
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

LEAD = {"customer": {"first_name": "Jan", "email": "jan@example.nl"}}
ADF = b"""<?xml version="1.0"?><adf><prospect><id source="AS">AS-1</id>
<customer><contact><name part="full">Jan de Vries</name><email>jan@example.nl</email></contact></customer>
</prospect></adf>"""


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [40, 460, 5000])
def test_deeply_nested_json_is_a_400_on_every_json_endpoint(portal, cast, depth):
    body = '{"customer": {"email": "jan@example.nl", "x": ' + nested(depth) + "}}"
    manager = team_client(cast.manager_a)
    lead = LeadFactory(dealer=cast.dealer_a, assignee=cast.manager_a)
    answers = [
        portal.generic("POST", "/api/v1/leads/", body, content_type="application/json"),
        APIClient().generic("POST", "/api/v1/auth/token/", '{"email": ' + nested(depth) + "}", content_type="application/json"),
        manager.generic("PATCH", "/api/v1/team/policy/", '{"min_attempts": ' + nested(depth) + "}",
                        content_type="application/json"),
        manager.generic("POST", f"/api/v1/team/leads/{lead.pk}/attempts/", '{"note": ' + nested(depth) + "}",
                        content_type="application/json"),
    ]
    for response in answers:
        assert response.status_code == 400, response.content
        assert response["Content-Type"] == "application/problem+json"
    assert Lead.objects.unscoped().count() == 1  # only the one made above


def test_json_as_deep_as_a_lead_needs_is_still_read(portal):
    assert portal.post("/api/v1/leads/", {**LEAD, "extra": {"a": {"b": {"c": [1, [2, [3]]]}}}},
                       format="json").status_code == 201


def test_an_over_long_idempotency_key_is_a_400_and_stores_nothing(portal):
    key = "k" * 255
    response = portal.generic("POST", "/api/v1/leads/adf/", ADF, content_type="application/xml",
                              HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400, response.content
    assert "Idempotency-Key" in response.json()["errors"]
    assert portal.post("/api/v1/leads/", LEAD, format="json", HTTP_IDEMPOTENCY_KEY=key).status_code == 400
    assert not (InboundDocument.objects.unscoped().exists() or Lead.objects.unscoped().exists())


def test_an_idempotency_key_of_200_characters_works_on_adf(portal):
    key = "k" * 200
    first = portal.generic("POST", "/api/v1/leads/adf/", ADF.replace(b"AS-1", b""), content_type="application/xml",
                           HTTP_IDEMPOTENCY_KEY=key)
    assert first.status_code == 201, first.content
    assert IdempotencyKey.objects.unscoped().get().key == key + "#0"


@pytest.mark.parametrize("path", ["/api/v1/leads/", "/api/v1/leads/adf/"])
def test_options_on_the_portal_endpoints_answers(portal, path):
    response = portal.options(path)
    assert response.status_code == 200
    assert "POST" in response["Allow"]


def test_a_chunked_json_body_is_read(portal):
    body = json.dumps(LEAD).encode()
    response = portal.generic("POST", "/api/v1/leads/", b"", content_type="application/json", CONTENT_LENGTH="",
                              HTTP_TRANSFER_ENCODING="chunked", **{"wsgi.input": io.BytesIO(body)})
    assert response.status_code == 201, response.content
    assert Lead.objects.unscoped().get().customer.email == "jan@example.nl"


def test_a_chunked_adf_body_is_read_and_an_endless_one_refused(portal, settings):
    response = portal.generic("POST", "/api/v1/leads/adf/", b"", content_type="application/xml", CONTENT_LENGTH="",
                              HTTP_TRANSFER_ENCODING="chunked", **{"wsgi.input": io.BytesIO(ADF)})
    assert response.status_code == 201, response.content
    settings.CHUNKED_BODY_MAX_BYTES = 1000
    response = portal.generic("POST", "/api/v1/leads/adf/", b"", content_type="application/xml", CONTENT_LENGTH="",
                              HTTP_TRANSFER_ENCODING="chunked", **{"wsgi.input": io.BytesIO(ADF + b" " * 5000)})
    assert response.status_code == 413
    assert InboundDocument.objects.unscoped().count() == 1


def test_api_answers_with_customer_data_are_not_cached(portal, cast):
    response = portal.post("/api/v1/leads/", LEAD, format="json")
    assert "no-store" in response["Cache-Control"]
    lead_id = response.json()["id"]
    assert "no-store" in team_client(cast.manager_a).get(f"/api/v1/team/leads/{lead_id}/")["Cache-Control"]
