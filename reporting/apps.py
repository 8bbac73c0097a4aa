from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.utils.translation import gettext_lazy as _


def _register_sqlite_functions(sender, connection, **kwargs):
    """Embedded-demo fallback: SQLite has no percentile_cont, so the dashboard's medians get a Python one there.

    Every test and the benchmark run on PostgreSQL, where the native ordered-set aggregate is used.
    """
    if connection.vendor == "sqlite":
        from .expressions import PercentileContPython

        connection.connection.create_aggregate("percentile_cont", 2, PercentileContPython)


class ReportingConfig(AppConfig):
    name = "reporting"
    verbose_name = _("Reporting")

    def ready(self):
        connection_created.connect(_register_sqlite_functions, dispatch_uid="reporting_sqlite_percentile")
