"""Reporting owns no tables. `CohortLead` is not a table either: it names the columns of the `report_cohort` CTE that
reporting.selectors builds for each report query (one row per lead of the period, with its flags and durations
already worked out), so the figure aggregates — percentile_cont, FILTER, windows — are ORM expressions over it,
compiled for the database in use. `managed = False`: no migration creates or drops anything.
"""

from django.db import models


class CohortLead(models.Model):
    lead_ref = models.UUIDField(primary_key=True)
    dealer_ref = models.BigIntegerField()
    assignee_ref = models.BigIntegerField(null=True)
    lead_queue = models.CharField(max_length=8)
    lead_source = models.CharField(max_length=64)
    lead_kind = models.CharField(max_length=8)
    week = models.DateField(null=True)
    is_contacted = models.BooleanField()
    has_appointment = models.BooleanField()
    is_shown = models.BooleanField()
    is_sold = models.BooleanField()
    is_open = models.BooleanField()
    is_attempted = models.BooleanField()
    is_within_deadline = models.BooleanField()
    is_unreachable = models.BooleanField()
    is_below_minimum = models.BooleanField()
    seconds_to_attempt = models.FloatField(null=True)
    seconds_to_contact = models.FloatField(null=True)
    n_attempts = models.IntegerField()
    n_verified = models.IntegerField()
    n_to_contact = models.IntegerField(null=True)

    class Meta:
        managed = False
        db_table = "report_cohort"

    def __str__(self):
        return str(self.lead_ref)
