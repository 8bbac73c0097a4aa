"""The embedded demo's percentile (SQLite) must agree with PostgreSQL's percentile_cont, which the tests run on."""

import pytest
from django.db import connection

from reporting.expressions import PercentileContPython


def sqlite_percentile(values, fraction):
    aggregate = PercentileContPython()
    for value in values:
        aggregate.step(value, fraction)
    return aggregate.finalize()


@pytest.mark.django_db
@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("values", [[7], [1, 2, 3, 4], [30, 40, 50, 60, 60, 70, 80, 85, 90, 100, 100, 100, 110, 120, 125, 300,
                                                         300, 520], [5, None, 1, 3]])
def test_the_python_fallback_matches_postgresql(values, fraction):
    with connection.cursor() as cursor:
        cursor.execute("SELECT percentile_cont(%s) WITHIN GROUP (ORDER BY v) FROM unnest(%s::float8[]) AS v",
                       [fraction, values])
        expected = cursor.fetchone()[0]
    assert sqlite_percentile(values, fraction) == pytest.approx(expected)


def test_no_values_is_null():
    assert sqlite_percentile([], 0.5) is None
    assert sqlite_percentile([None], 0.5) is None
