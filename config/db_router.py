"""Reads that may lag go to the streaming replica, and only those: the dashboard's figures, inside `reading_replica()`.

Everything else — the inbox, the lead page, the intake, the sweep, every write — uses the primary, because it acts on
what it reads. Without DATABASE_REPLICA_URL there is no replica alias and the scope changes nothing.
"""

import contextlib
from contextvars import ContextVar

from django.db import DEFAULT_DB_ALIAS, connections

REPLICA = "replica"
_replica_reads: ContextVar[bool] = ContextVar("replica_reads", default=False)


@contextlib.contextmanager
def reading_replica():
    """Send this block's reads to the replica (when one is configured); its writes still go to the primary."""
    token = _replica_reads.set(True)
    try:
        yield
    finally:
        _replica_reads.reset(token)


def read_alias() -> str:
    """The alias a read here goes to: for raw SQL, which no router sees."""
    return REPLICA if _replica_reads.get() and REPLICA in connections.settings else DEFAULT_DB_ALIAS


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        # Explicit even outside the scope: an object read from the replica must not pull its relations from there later.
        return read_alias()

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return {obj1._state.db, obj2._state.db} <= {DEFAULT_DB_ALIAS, REPLICA} or None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS  # the replica follows the primary's WAL, schema included
