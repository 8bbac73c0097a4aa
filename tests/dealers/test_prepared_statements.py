"""The intake's hot statements are prepared once per database session: the same answers, one round trip each, and a
session that was replaced or a statement that failed never leaves a name behind that is missing or taken."""

import uuid

import pytest
from django.db import DEFAULT_DB_ALIAS, DatabaseError, IntegrityError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from dealers.rows import execute_prepared

pytestmark = pytest.mark.django_db


def _statement(text: str) -> str:
    return f"{text} /* {uuid.uuid4().hex} */"  # a text no earlier test has prepared in this session


def _run(sql, params, *, on=connection, **kwargs):
    with CaptureQueriesContext(on) as queries, on.cursor() as cursor:
        execute_prepared(cursor, sql, params, **kwargs)
        rows = cursor.fetchall()
    return rows, [q["sql"] for q in queries.captured_queries]


def _prepared_names() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cursor.fetchall()}


def test_a_statement_is_prepared_on_first_use_and_executed_by_name_after():
    sql = _statement("SELECT CAST(%s AS integer) + 1, '100%%' || %s")
    first, sent_first = _run(sql, [41, "?"])
    again, sent_again = _run(sql, [1, "!"])
    assert first == [(42, "100%?")] and again == [(2, "100%!")]
    assert len(sent_first) == len(sent_again) == 1  # the PREPARE goes with the first EXECUTE, in one message
    assert sent_first[0].startswith("PREPARE opv_") and "; EXECUTE opv_" in sent_first[0]
    assert sent_again[0].startswith("EXECUTE opv_")
    assert sent_again[0].split("(")[0].removeprefix("EXECUTE ") in _prepared_names()


def test_several_statements_go_in_one_message_and_answer_with_the_last():
    lock, count = _statement("SELECT id FROM dealers_dealer WHERE id = ANY(%s)"), _statement("SELECT CAST(%s AS integer) * 2")
    for n in (1, 2):
        rows, sent = _run((lock, count), [[0], 21 * n])
        assert rows == [(42 * n,)] and len(sent) == 1


def test_a_new_session_prepares_again():
    """A connection closed and opened again (CONN_MAX_AGE, or the health check replacing one PostgreSQL dropped)."""
    sql = _statement("SELECT CAST(%s AS integer)")
    other = connections.create_connection(DEFAULT_DB_ALIAS)  # outside the test's transaction, so it may reconnect
    try:
        _run(sql, [1], on=other)
        other.close()
        rows, sent = _run(sql, [2], on=other)
    finally:
        other.close()
    assert rows == [(2,)] and sent[0].startswith("PREPARE ")


def test_a_statement_that_fails_on_first_use_runs_as_it_is_from_then_on():
    sql = _statement("SELECT 10 / CAST(%s AS integer)")
    with pytest.raises(DatabaseError), transaction.atomic():
        _run(sql, [0])  # division by zero: whether the PREPARE took is not known, so it is never sent again
    rows, sent = _run(sql, [5])
    assert rows == [(2,)] and sent[0].startswith("SELECT 10 / CAST(5 AS integer)")


def test_a_duplicate_refused_on_first_use_leaves_the_statement_prepared():
    """A constraint refuses a row only when the statement runs, so the PREPARE sent before it in the message took: the
    next use executes it by name (sending the PREPARE again would fail: the name exists)."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE prepared_unique (x integer UNIQUE)")
        cursor.execute("INSERT INTO prepared_unique VALUES (1)")
    sql = _statement("INSERT INTO prepared_unique VALUES (%s) RETURNING x")
    with pytest.raises(IntegrityError), transaction.atomic():
        _run(sql, [1])
    rows, sent = _run(sql, [2])
    assert rows == [(2,)] and sent[0].startswith("EXECUTE opv_")


def test_nothing_is_prepared_where_sessions_do_not_last(monkeypatch):
    sql = _statement("SELECT CAST(%s AS integer)")
    with monkeypatch.context() as behind_pgbouncer:  # which Django asks to set this
        behind_pgbouncer.setitem(connection.settings_dict, "DISABLE_SERVER_SIDE_CURSORS", True)
        rows, sent = _run(sql, [3])
    assert rows == [(3,)] and sent[0].startswith("SELECT CAST(3 AS integer)")
    rows, sent = _run(sql, [4], prepare=False)  # a statement whose text varies is never prepared
    assert rows == [(4,)] and sent[0].startswith("SELECT ")


def test_a_lead_posted_twice_on_one_session_executes_the_intake_statements_by_name(client):
    """The portal key (with the opening hours), the customer match, the round-robin and the lead's write: by name."""
    from tests.factories import DealerFactory, MembershipFactory, api_key_for

    dealer = DealerFactory()
    MembershipFactory(dealer=dealer)
    key = api_key_for(dealer, source="marktplaats")
    for n in range(2):
        with CaptureQueriesContext(connection) as queries:
            response = client.post("/api/v1/leads/", {"external_id": f"P-{n}", "customer": {"email": f"p{n}@example.nl"}},
                                   content_type="application/json", HTTP_AUTHORIZATION=f"Api-Key {key}")
        assert response.status_code == 201, response.content
    by_name = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("EXECUTE opv_")]
    assert len(by_name) == 4, [q["sql"][:80] for q in queries.captured_queries]
