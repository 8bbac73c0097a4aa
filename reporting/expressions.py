"""SQL building blocks for the figures: a ratio rounded the contract's way, elapsed seconds and percentile_cont.

All of them compile for PostgreSQL (where every test and the benchmark run). The SQLite variants exist only so the
embedded quick-start demo can render the dashboard; SQLite gets `percentile_cont` as a Python aggregate registered in
reporting/apps.py.
"""

from django.db.models import Aggregate, FloatField, Func


def rounded_division_sql(connection, numerator: str, denominator: str, places: int) -> str:
    """numerator / denominator rounded to `places`, NULL when the denominator is 0."""
    if connection.vendor == "postgresql":
        # numeric division, so 0.66665 rounds half away from zero exactly as written, not as a binary float.
        return f"ROUND(({numerator})::numeric / NULLIF({denominator}, 0), {places})::double precision"
    return f"ROUND(CAST({numerator} AS REAL) / NULLIF({denominator}, 0), {places})"


class Ratio(Func):
    """numerator / denominator, rounded to `places` decimals; NULL when the denominator is zero."""

    output_field = FloatField()
    arity = 2

    def __init__(self, numerator, denominator, places: int = 4, **extra):
        self.places = int(places)
        super().__init__(numerator, denominator, **extra)

    def as_sql(self, compiler, connection, **extra_context):
        (num_sql, num_params), (den_sql, den_params) = (compiler.compile(e) for e in self.source_expressions)
        return rounded_division_sql(connection, num_sql, den_sql, self.places), (*num_params, *den_params)


class ShareOfTotal(Func):
    """A grouped count as a share of all groups' counts (a window over the aggregate), rounded to 4 decimals."""

    output_field = FloatField()
    arity = 1
    contains_over_clause = True

    def as_sql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return rounded_division_sql(connection, sql, f"SUM({sql}) OVER ()", 4), (*params, *params)


class ElapsedSeconds(Func):
    """Seconds from `start` to `end`, never negative: an attempt logged before the clock started counts as 0 s."""

    output_field = FloatField()
    arity = 2

    def as_sql(self, compiler, connection, **extra_context):
        (start_sql, start_params), (end_sql, end_params) = (compiler.compile(e) for e in self.source_expressions)
        if connection.vendor == "postgresql":
            # date_part, not EXTRACT: since PostgreSQL 14 EXTRACT returns numeric, several times slower per row.
            sql = f"GREATEST(date_part('epoch', {end_sql} - {start_sql}), 0)"
        else:
            sql = f"MAX((julianday({end_sql}) - julianday({start_sql})) * 86400.0, 0)"
        return sql, (*end_params, *start_params)


class PercentileCont(Aggregate):
    """PostgreSQL's continuous percentile: `percentile_cont(f) WITHIN GROUP (ORDER BY expr)`, FILTER-able."""

    function = "percentile_cont"
    name = "PercentileCont"
    output_field = FloatField()
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction: float, **extra):
        if not 0 <= float(fraction) <= 1:
            raise ValueError("fraction must be between 0 and 1")
        super().__init__(expression, fraction=repr(float(fraction)), **extra)

    def as_sqlite(self, compiler, connection, **extra_context):
        # The embedded demo only: the Python aggregate registered in reporting/apps.py takes (value, fraction).
        return super().as_sql(compiler, connection, template="%(function)s(%(expressions)s, %(fraction)s)", **extra_context)


class PercentileContPython:
    """SQLite aggregate with PostgreSQL's percentile_cont semantics (linear interpolation, NULLs ignored)."""

    def __init__(self):
        self.values: list[float] = []
        self.fraction = 0.5

    def step(self, value, fraction):
        if value is not None:
            self.values.append(float(value))
            self.fraction = float(fraction)

    def finalize(self):
        if not self.values:
            return None
        ordered = sorted(self.values)
        position = self.fraction * (len(ordered) - 1)
        lower = int(position)
        upper = min(lower + 1, len(ordered) - 1)
        return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)
