"""schemathesis over the served OpenAPI schema with a valid portal key: whatever it sends, never a 5xx."""

import pytest
import schemathesis
from django.conf import settings as django_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from tests.factories import api_key_for, open_all_week

PORTAL_PATHS = r"^/api/v1/leads/"
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

    return schemathesis.openapi.from_wsgi("/api/v1/schema/", application).include(path_regex=PORTAL_PATHS)


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
def portal_key(cast, in_process_requests):
    open_all_week(cast.dealer_a)
    return api_key_for(cast.dealer_a, rate_per_minute=100_000)


OPERATIONS = [("POST", "/api/v1/leads/"), ("POST", "/api/v1/leads/adf/"), ("POST", "/api/v1/leads/mail/"),
              ("GET", "/api/v1/leads/{id}/")]


def test_the_schema_lists_exactly_the_portal_operations(in_process_requests):
    operations = {(op.method.upper(), op.path) for op in (r.ok() for r in served_schema().get_all_operations())}
    assert operations == set(OPERATIONS)


@pytest.mark.parametrize("method, path", OPERATIONS)
def test_no_input_yields_a_server_error(method, path, portal_key):
    operation = served_schema()[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        case.call_and_validate(headers={"Authorization": f"Api-Key {portal_key}"}, checks=[not_a_server_error])

    check()
