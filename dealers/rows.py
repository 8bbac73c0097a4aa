"""The intake's few hot statements, written out by hand (the portal key's lookup, the customer match, the round-robin,
the lead's write), where building a queryset cost more than the answer: their rows made into model instances as the
ORM makes them, and the statements prepared once per database session."""

import functools
import hashlib
import re
from dataclasses import dataclass, field

from django.db import IntegrityError, connections
from django.db.backends.signals import connection_created


def instance_from_row(model, alias: str, values) -> object:
    """An instance of `model` from the values of its concrete fields, in their order, as read from database `alias`:
    the backend's converters (SQLite's dates, UUIDs and booleans) and the fields' own (JSON) applied, as a queryset
    would."""
    fields = model._meta.concrete_fields
    if len(values) != len(fields):
        raise ValueError(f"{model.__name__} has {len(fields)} concrete fields, the row {len(values)} values")
    values = list(values)
    for i in _converted_columns(model, alias):
        values[i] = _from_db(model, fields[i], alias, values[i])
    return model.from_db(alias, _attnames(model), values)


def value_from_db(model, name: str, alias: str, value):
    """One column of `model`, read beside other columns, as a queryset would give it (`instance_from_row`'s rule)."""
    return _from_db(model, model._meta.get_field(name), alias, value)


@functools.cache
def _attnames(model) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields]


@functools.cache
def _converted_columns(model, alias: str) -> tuple[int, ...]:
    """Which of `model`'s concrete fields have a converter on database `alias` (on PostgreSQL only the JSON ones): the
    others are taken as the driver gives them, saving a converter look-up per column on every row."""
    connection = connections[alias]
    return tuple(i for i, field in enumerate(model._meta.concrete_fields)
                 if _converters(model, field, connection)[1])


def _converters(model, field, connection) -> tuple[object, list]:
    """(the field's column expression, the converters a queryset applies to it on `connection`)."""
    column = field.get_col(model._meta.db_table)
    return column, [*connection.ops.get_db_converters(column), *field.get_db_converters(connection)]


def _from_db(model, field, alias: str, value):
    connection = connections[alias]
    column, converters = _converters(model, field, connection)
    for converter in converters:
        value = converter(value, column, connection)
    return value


# ------------------------------------------------------------------- statements prepared once per database session
#
# psycopg2 sends every statement as text, so PostgreSQL parses and plans it anew each time: for the intake's reads
# (the key with its dealer and policy, the customer match, the round-robin's count) planning took 0.3 ms each, several
# times what running them took. A statement PREPAREd once per session is planned once (PostgreSQL keeps a generic plan
# when it is no worse) and then EXECUTEd by name. Off where a session does not last: behind PgBouncer's transaction
# pooling, which hands each transaction any server connection and for which Django asks DISABLE_SERVER_SIDE_CURSORS
# (config/settings/base.py sets it from the environment); and on other databases.

PREPARED_MAX = 64  # statements a session prepares; beyond that they run as they are (a bound, not an expected count)


@dataclass(frozen=True)
class _Prepared:
    first: str  # PREPARE name AS ...; EXECUTE name(...): one message, so the first use is one round trip like the rest
    execute: str  # EXECUTE name(%s, ...)


@dataclass
class _Session:
    prepared: set = field(default_factory=set)
    unprepared: set = field(default_factory=set)  # failed on first use: whether the PREPARE took is unknown


_SESSION_ATTR = "_opvolger_prepared"
_PLACEHOLDER = re.compile(r"%%|%s")


@functools.lru_cache(maxsize=256)
def _prepared(sql: str) -> _Prepared:
    """The PREPARE and EXECUTE texts of `sql`, a statement with %s placeholders (and %% for a literal %). Named by a
    hash of its text: a changed statement is a new name, never a clash with one prepared by older code."""
    count = 0

    def placeholder(match):
        nonlocal count
        if match.group() == "%%":
            return "%%"  # still passed through the driver's formatting, with the EXECUTE's parameters
        count += 1
        return f"${count}"

    body = _PLACEHOLDER.sub(placeholder, sql)
    name = "opv_" + hashlib.sha1(sql.encode()).hexdigest()[:20]
    execute = f"EXECUTE {name}({', '.join(['%s'] * count)})" if count else f"EXECUTE {name}"
    return _Prepared(first=f"PREPARE {name} AS {body}; {execute}", execute=execute)


def _session(connection) -> _Session | None:
    """What this database session has prepared, or None when statements are not to be prepared on it."""
    if connection.vendor != "postgresql" or connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS"):
        return None
    session = getattr(connection, _SESSION_ATTR, None)
    if session is None:
        session = _Session()
        setattr(connection, _SESSION_ATTR, session)
    return session


def _session_new(sender, connection, **kwargs) -> None:
    """A new database session has prepared nothing (a reconnect, a connection the health check replaced)."""
    setattr(connection, _SESSION_ATTR, None)


connection_created.connect(_session_new, dispatch_uid="dealers.rows.prepared_statements")


def execute_prepared(cursor, sql: str | tuple[str, ...], params, *, prepare: bool = True) -> None:
    """`cursor.execute(sql, params)` (a Django cursor), each statement prepared on the session's first use and executed
    by name after. Several statements (a tuple; their parameters in order) go in one message, as one round trip.

    For hot statements of a fixed text only: the parameters' types are inferred from where they stand, so one that
    stands alone (a VALUES list) needs a CAST. A statement that fails on its first use is not prepared again in that
    session (the PREPARE may or may not have taken): it runs as it is from then on; but a constraint's refusal (a
    portal's retry, refused as a duplicate) comes from running it, after its PREPARE took. `prepare=False`: run as it
    is (for a statement whose text varies, such as the sweep's list of dealers)."""
    statements = (sql,) if isinstance(sql, str) else sql
    params = list(params or [])
    session = _session(cursor.db) if prepare else None
    if session is None:
        cursor.execute("; ".join(statements), params)
        return
    parts, new = [], []
    for statement in statements:
        if statement in session.prepared:
            parts.append(_prepared(statement).execute)
        elif statement in session.unprepared or len(session.prepared) + len(new) >= PREPARED_MAX:
            parts.append(statement)
        else:
            parts.append(_prepared(statement).first)
            new.append(statement)
    try:
        cursor.execute("; ".join(parts), params)
    except IntegrityError:  # raised by running a statement (a duplicate): whatever was prepared before it stays
        session.prepared.update(new)
        raise
    except Exception:
        session.unprepared.update(new)
        raise
    session.prepared.update(new)
