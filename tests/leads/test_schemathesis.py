"""schemathesis over every operation of the served OpenAPI schema (portal and team API), authenticated as a portal key
or a manager's token: whatever it sends, never a 5xx."""

import datetime as dt

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from dealers.services import team_token_create
from followup.models import Appointment
from tests.factories import LeadFactory, api_key_for, open_all_week

PORTAL_EXAMPLES = 60
TEAM_EXAMPLES = 25  # ~20 operations: the whole run stays near a minute on one core
MAIL_FIXTURES = sorted((django_settings.BASE_DIR.parent / "shared" / "fixtures" / "mail").glob("*.eml")) + sorted(
    (django_settings.BASE_DIR / "tests" / "fixtures" / "mail").glob("*.eml"))
# Raw mails for POST /api/v1/leads/mail/: random bytes, every fixture mail, and fixture mails cut or spliced at random.
schemathesis.openapi.media_type("message/rfc822", st.one_of(
    st.binary(max_size=4096),
    st.sampled_from([p.read_bytes() for p in MAIL_FIXTURES]),
    st.tuples(st.sampled_from([p.read_bytes() for p in MAIL_FIXTURES]), st.integers(0, 6000), st.binary(max_size=512))
    .map(lambda t: t[0][:t[1]] + t[2] + t[0][t[1]:]),
))


def served_schema():
    from config.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/v1/schema/", application)


@pytest.fixture
def in_process_requests(db):
    """Like Django's test client, keep the test's connection (and its transaction) open across WSGI requests."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def credentials(cast, in_process_requests):
    """A portal key and a manager's token of dealer A, and a lead with an appointment for the paths that name one."""
    open_all_week(cast.dealer_a)
    lead = LeadFactory(dealer=cast.dealer_a, assignee=cast.sales_a1, source="website")
    appointment = Appointment.objects.create(lead=lead, dealer=cast.dealer_a, created_by=cast.sales_a1,
                                             scheduled_at=timezone.now() + dt.timedelta(days=1))
    return {
        "portal": {"Authorization": f"Api-Key {api_key_for(cast.dealer_a, rate_per_minute=100_000)}"},
        "team": {"Authorization": f"Token {team_token_create(user=cast.manager_a, device_name='schemathesis')[1]}"},
        "path": {"id": str(lead.pk), "appointment_id": appointment.pk},
    }


def operations():
    return sorted((op.method.upper(), op.path) for op in (r.ok() for r in served_schema().get_all_operations()))


PORTAL_OPERATIONS = [("POST", "/api/v1/leads/"), ("POST", "/api/v1/leads/adf/"), ("POST", "/api/v1/leads/mail/"),
                     ("GET", "/api/v1/leads/{id}/")]


def test_the_schema_lists_the_portal_and_the_team_api(in_process_requests):
    listed = operations()
    assert set(PORTAL_OPERATIONS) <= set(listed)
    assert ("POST", "/api/v1/auth/token/") in listed and ("GET", "/api/v1/team/leads/") in listed
    assert len(listed) >= 15


def _headers_for(path: str, credentials: dict) -> dict:
    if path.startswith("/api/v1/leads/"):
        return credentials["portal"]
    if path.startswith("/api/v1/team/"):
        return credentials["team"]
    return {}  # the token endpoint and the telephony webhook authenticate by what they are sent


def pytest_generate_tests(metafunc):
    """One test per operation the project serves, read from its schema: an endpoint added later is fuzzed too."""
    if "operation_key" in metafunc.fixturenames:
        metafunc.parametrize("operation_key", [f"{m} {p}" for m, p in operations()])


def test_no_input_yields_a_server_error(operation_key, credentials):
    method, path = operation_key.split(" ", 1)
    operation = served_schema()[path][method]
    headers = _headers_for(path, credentials)
    real_ids = not path.startswith("/api/v1/leads/")  # the portal reads back only its own key's leads: random ids

    @given(case=operation.as_strategy(), on_a_real_lead=st.booleans())
    @settings(max_examples=PORTAL_EXAMPLES if path.startswith("/api/v1/leads/") else TEAM_EXAMPLES, deadline=None,
              suppress_health_check=list(HealthCheck), database=None)
    def check(case, on_a_real_lead):
        if real_ids and case.path_parameters and on_a_real_lead:  # so bodies are read, not only 404s
            case.path_parameters = {**case.path_parameters,
                                    **{k: v for k, v in credentials["path"].items() if k in case.path_parameters}}
        response = case.call_and_validate(headers=headers, checks=[not_a_server_error])
        statuses.append(response.status_code)

    statuses: list[int] = []
    check()
    if headers:  # the credentials work: the fuzzing got past authentication, not just 401s
        assert any(code not in (401, 403) for code in statuses), statuses
