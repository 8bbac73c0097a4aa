"""The streaming replica serves the dashboard's figures and nothing else; without DATABASE_REPLICA_URL there is none."""

import datetime as dt

import pytest
from django.db import DEFAULT_DB_ALIAS, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config.db_router import REPLICA, ReplicaRouter, reading_replica
from config.settings.base import databases
from leads.models import Lead
from tests.conftest import team_client
from tests.reporting.conftest import lead_at

REPORT_STATEMENT = "AS MATERIALIZED"  # the report's one statement (reporting.selectors.report_rows)


@pytest.fixture(scope="module", autouse=True)
def _replica_alias(django_db_setup):
    """The replica's alias as DATABASE_REPLICA_URL adds it, here a second connection to the test database (a test
    mirror). Module-wide: a test's allowed databases are checked before any function fixture could add it."""
    connections.settings[REPLICA] = {**connections[DEFAULT_DB_ALIAS].settings_dict, "TEST": {"MIRROR": DEFAULT_DB_ALIAS}}
    yield
    connections[REPLICA].close()
    del connections[REPLICA]
    del connections.settings[REPLICA]


@pytest.fixture
def replica(transactional_db):
    """The tests commit their rows (transactional_db), so the replica's own connection sees them, as after its lag."""
    return connections[REPLICA]


WITH_REPLICA = pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA])


def statements(captured: CaptureQueriesContext) -> str:
    return "\n".join(q["sql"] for q in captured.captured_queries)


@WITH_REPLICA
def test_the_dashboard_reads_its_figures_from_the_replica_and_its_live_board_from_the_primary(replica, cast):
    now = timezone.now()
    lead_at(cast.dealer_a, now - dt.timedelta(minutes=42), assignee=cast.sales_a1, deadline_at=now - dt.timedelta(minutes=37))
    client = Client()
    client.force_login(cast.manager_a)
    with CaptureQueriesContext(replica) as on_replica, CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as on_primary:
        assert client.get("/dashboard/").status_code == 200
    assert REPORT_STATEMENT in statements(on_replica) and REPORT_STATEMENT not in statements(on_primary)
    # The untouched leads the manager reassigns from, the session and the access decision: the primary.
    assert "leads_lead" in statements(on_primary) and "django_session" in statements(on_primary)
    assert "django_session" not in statements(on_replica) and "dealers_membership" not in statements(on_replica)

    with CaptureQueriesContext(replica) as on_replica:
        body = team_client(cast.manager_a).get("/api/v1/team/reports/summary/").json()
        assert client.get("/dashboard/export/summary.csv").status_code == 200
    assert body["leads"] == 1  # the committed lead, read through the replica's connection
    assert statements(on_replica).count(REPORT_STATEMENT) == 2


@WITH_REPLICA
def test_the_inbox_and_the_lead_page_never_read_the_replica(replica, cast):
    lead = lead_at(cast.dealer_a, timezone.now(), assignee=cast.sales_a1)
    client = Client()
    client.force_login(cast.sales_a1)
    with CaptureQueriesContext(replica) as on_replica:
        assert client.get("/inbox/").status_code == 200
        assert client.get(f"/leads/{lead.pk}/").status_code == 200
    assert on_replica.captured_queries == []


def test_inside_the_scope_reads_go_to_the_replica_and_writes_to_the_primary():
    router = ReplicaRouter()
    assert router.db_for_read(Lead) == DEFAULT_DB_ALIAS
    with reading_replica():
        assert router.db_for_read(Lead) == REPLICA
        assert router.db_for_write(Lead) == DEFAULT_DB_ALIAS
    assert router.db_for_read(Lead) == DEFAULT_DB_ALIAS  # the scope ends with its block
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "leads") and not router.allow_migrate(REPLICA, "leads")


def test_without_a_replica_the_scope_reads_the_primary(monkeypatch):
    monkeypatch.delitem(connections.settings, REPLICA)  # as the test settings are outside this module
    with reading_replica():
        assert ReplicaRouter().db_for_read(Lead) == DEFAULT_DB_ALIAS


def test_the_replica_alias_exists_only_with_database_replica_url(monkeypatch):
    primary = {"ENGINE": "django.db.backends.postgresql", "NAME": "opvolger"}
    monkeypatch.delenv("DATABASE_REPLICA_URL", raising=False)
    assert list(databases(dict(primary))) == ["default"]
    monkeypatch.setenv("DATABASE_REPLICA_URL", "postgres://opvolger@replica.internal:5432/opvolger")
    monkeypatch.setenv("DISABLE_SERVER_SIDE_CURSORS", "true")
    both = databases(dict(primary))
    assert both["replica"]["HOST"] == "replica.internal" and both["replica"]["NAME"] == "opvolger"
    assert both["default"]["DISABLE_SERVER_SIDE_CURSORS"] and both["replica"]["DISABLE_SERVER_SIDE_CURSORS"]
