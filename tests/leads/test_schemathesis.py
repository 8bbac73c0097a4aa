"""schemathesis over the served OpenAPI schema with a valid portal key: whatever it sends, never a 5xx."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.factories import api_key_for, open_all_week


@pytest.fixture
def portal_schema(db):
    from config.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/v1/schema/", application).include(path_regex=r"^/api/v1/leads/")


@pytest.fixture
def portal_key(cast):
    open_all_week(cast.dealer_a)
    return api_key_for(cast.dealer_a, rate_per_minute=100_000)


schema = schemathesis.pytest.from_fixture("portal_schema")


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_yields_a_server_error(case, portal_key):
    case.call_and_validate(headers={"Authorization": f"Api-Key {portal_key}"}, checks=[not_a_server_error])
