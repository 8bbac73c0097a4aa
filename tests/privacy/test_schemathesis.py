"""schemathesis over the served schema's privacy operations with a manager's token: whatever it sends, never a 5xx."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from dealers.services import team_token_create
from tests.leads.test_schemathesis import in_process_requests  # noqa: F401  (keeps the test's transaction open)

OPERATIONS = [("GET", "/api/v1/team/customers/{id}/export/"), ("POST", "/api/v1/team/customers/{id}/erase/"),
              ("GET", "/api/v1/team/privacy/"), ("PATCH", "/api/v1/team/privacy/")]


def privacy_schema():
    from config.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/v1/schema/", application).include(
        path_regex=r"^/api/v1/team/(customers|privacy)/")


@pytest.fixture
def manager_token(cast, person, in_process_requests):  # noqa: F811
    return team_token_create(user=cast.manager_a)[1]


@pytest.mark.parametrize("method, path", OPERATIONS)
def test_no_input_yields_a_server_error(method, path, manager_token):
    operation = privacy_schema()[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        case.call_and_validate(headers={"Authorization": f"Token {manager_token}"}, checks=[not_a_server_error])

    check()
