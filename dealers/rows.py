"""Rows read with a cursor, made into model instances as the ORM makes them: for the few hot statements written out
by hand (the portal key's lookup, the customer match), where building a queryset cost more than the answer."""

from django.db import connections


def instance_from_row(model, alias: str, values) -> object:
    """An instance of `model` from the values of its concrete fields, in their order, as read from database `alias`:
    the backend's converters (SQLite's dates, UUIDs and booleans) and the fields' own (JSON) applied, as a queryset
    would."""
    fields = model._meta.concrete_fields
    converted = [_from_db(model, field, alias, value) for field, value in zip(fields, values, strict=True)]
    return model.from_db(alias, [f.attname for f in fields], converted)


def value_from_db(model, name: str, alias: str, value):
    """One column of `model`, read beside other columns, as a queryset would give it (`instance_from_row`'s rule)."""
    return _from_db(model, model._meta.get_field(name), alias, value)


def _from_db(model, field, alias: str, value):
    connection = connections[alias]
    column = field.get_col(model._meta.db_table)
    for converter in (*connection.ops.get_db_converters(column), *field.get_db_converters(connection)):
        value = converter(value, column, connection)
    return value
