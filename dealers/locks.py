"""Transaction-scoped advisory locks: for work that must go one at a time where there is no row to lock (yet), or
where locking the row would hold up the portals. Their namespaces are kept here, so two never collide."""

from django.db import connection

IMPORTS = 0x4F50_494D  # "OPIM": one dealer's imports
BUYER = 0x4F50_5253  # "OPRS": one buyer's mails at one dealer


def advisory_xact_lock(namespace: int, key: int | str) -> None:
    """Wait for, then hold until this transaction ends, the lock on (`namespace`, `key`); a text key is hashed by
    PostgreSQL. Nothing on the embedded SQLite, whose writers are serialised anyway."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        if isinstance(key, int):
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [namespace, key])
        else:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [namespace, key])
