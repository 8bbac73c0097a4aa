"""Rows read with a cursor, made into model instances as the ORM makes them: for the few hot statements written out
by hand (the portal key's lookup, the customer match), where building a queryset cost more than the answer."""

import functools

from django.db import connections


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
