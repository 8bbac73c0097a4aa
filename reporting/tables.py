"""The report's tables: which figures each shows, with the one definition of each figure.

The page, the CSV export and the docs read the same columns, so a figure cannot differ between them.
"""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

COUNT, RATE, SECONDS, DECIMAL, TEXT, DATE, FLAG = "count", "rate", "seconds", "decimal", "text", "date", "flag"

DEFINITIONS = {
    "leads": _("Leads received in the period (by arrival, in the dealer's time zone, both dates included)."),
    "contacted": _("Leads with at least one attempt whose outcome was connected or replied."),
    "appointments": _("Leads with at least one appointment."),
    "shown": _("Leads with an appointment the customer showed up for."),
    "sold": _("Leads closed as sold."),
    "still_open": _("Leads of the period that are not closed yet; what happens to them later still counts."),
    "contact_rate": _("Contacted ÷ leads."),
    "appointment_rate": _("Appointments ÷ leads: the MAP is measured on this."),
    "appointment_of_contacted_rate": _("Appointments ÷ contacted."),
    "show_rate": _("Shown ÷ appointments."),
    "close_rate": _("Sold ÷ shown."),
    "sale_rate": _("Sold ÷ leads: which leads end in a sale."),
    "map_target": _("The dealer's MAP target: appointments per lead (default 36%: 60% reached × 60% of those booked)."),
    "map_met": _("Whether the appointment rate reaches the MAP target."),
    "contact_target": _("The first step of the 60% rule: the share of leads to reach."),
    "appointment_of_contacted_target": _("The second step of the 60% rule: the share of reached leads to book."),
    "within_deadline_rate": _("Share of leads whose first attempt came at or before the first-response deadline; "
                              "leads without an attempt count against it."),
    "first_attempt_median": _("Median time from the start of the first-response clock (arrival, or the next opening) to the "
                              "first attempt of any outcome. Leads without an attempt are left out; an attempt before "
                              "the clock started counts as 0 seconds."),
    "first_attempt_mean": _("Mean time to the first attempt (same leads as the median)."),
    "first_attempt_p90": _("90th percentile of the time to the first attempt: nine in ten leads were tried sooner."),
    "first_contact_median": _("Median time from the start of the clock to the first real contact (connected or replied)."),
    "first_contact_mean": _("Mean time to the first real contact."),
    "first_contact_p90": _("90th percentile of the time to the first real contact."),
    "closed_unreachable": _("Leads closed as unreachable."),
    "closed_unreachable_below_minimum": _("Leads closed as unreachable with fewer counted attempts than the dealer's "
                                          "minimum (default 4). Should be none."),
    "attempts_total": _("Contact attempts logged on these leads, whenever they were made."),
    "attempts_verified": _("Attempts the system can prove: a call through the telephony integration or a mail it sent."),
    "attempts_self_reported": _("Attempts only ticked off by a person."),
    "attempts_verified_rate": _("Verified ÷ all attempts."),
    "attempts_to_contact": _("Average number of attempts up to and including the first real contact, over the contacted leads."),
}


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str

    @property
    def definition(self) -> str:
        return DEFINITIONS.get(self.key, "")


def _c(key, label, kind=COUNT):
    return Column(key, label, kind)


LABEL = _c("label", _("Name"), TEXT)
FUNNEL = [
    _c("leads", _("Leads")), _c("contacted", _("Contacted")), _c("appointments", _("Appointments")),
    _c("shown", _("Shown")), _c("sold", _("Sold")),
]
RATES = [
    _c("contact_rate", _("Contact rate"), RATE), _c("appointment_rate", _("Appointment rate"), RATE),
    _c("appointment_of_contacted_rate", _("Appointments of contacted"), RATE), _c("show_rate", _("Show rate"), RATE),
    _c("close_rate", _("Close rate"), RATE),
]
SPEED = [
    _c("within_deadline_rate", _("First attempt within deadline"), RATE),
    _c("first_attempt_median", _("To first attempt: median"), SECONDS),
    _c("first_attempt_mean", _("To first attempt: mean"), SECONDS),
    _c("first_attempt_p90", _("To first attempt: 90th percentile"), SECONDS),
    _c("first_contact_median", _("To first contact: median"), SECONDS),
    _c("first_contact_mean", _("To first contact: mean"), SECONDS),
    _c("first_contact_p90", _("To first contact: 90th percentile"), SECONDS),
]
COMPLIANCE = [
    _c("closed_unreachable", _("Closed unreachable")),
    _c("closed_unreachable_below_minimum", _("Unreachable below the minimum")),
    _c("attempts_to_contact", _("Attempts to reach"), DECIMAL),
    _c("attempts_total", _("Attempts")), _c("attempts_verified", _("Verified")),
    _c("attempts_self_reported", _("Self-reported")), _c("attempts_verified_rate", _("Verified share"), RATE),
]
MAP = [
    _c("leads", _("Leads")), _c("contact_rate", _("Contact rate"), RATE), _c("contact_target", _("Target"), RATE),
    _c("appointment_of_contacted_rate", _("Appointments of contacted"), RATE),
    _c("appointment_of_contacted_target", _("Target"), RATE),
    _c("appointment_rate", _("Appointment rate (MAP)"), RATE), _c("map_target", _("MAP target"), RATE),
    _c("map_met", _("MAP met"), FLAG),
]

TABLES: dict[str, dict] = {
    "summary": {"title": _("Summary"), "columns": [LABEL, *FUNNEL, *RATES, _c("map_target", _("MAP target"), RATE),
                                                   _c("still_open", _("Still open")), *SPEED, *COMPLIANCE]},
    "funnel": {"title": _("Funnel"), "columns": [LABEL, *FUNNEL, *RATES, _c("sale_rate", _("Sale rate"), RATE)]},
    "dealers": {"title": _("Per rooftop"), "columns": [LABEL, *FUNNEL, *RATES, _c("map_target", _("MAP target"), RATE),
                                                       _c("map_met", _("MAP met"), FLAG),
                                                       *SPEED[:2], *COMPLIANCE[:3], *COMPLIANCE[4:6]]},
    "people": {"title": _("MAP per person"), "columns": [_c("label", _("Person"), TEXT), *MAP, _c("shown", _("Shown")),
                                                         _c("sold", _("Sold")), SPEED[0], SPEED[1], *COMPLIANCE[1:3],
                                                         *COMPLIANCE[4:7]]},
    "teams": {"title": _("Salespeople versus BDC"), "columns": [_c("label", _("Team"), TEXT), *FUNNEL, *RATES, SPEED[0],
                                                                COMPLIANCE[2], COMPLIANCE[6]]},
    "sources": {"title": _("Per source"), "columns": [_c("label", _("Source"), TEXT), *FUNNEL,
                                                      _c("sale_rate", _("Sale rate"), RATE), RATES[1], RATES[0], SPEED[0]]},
    "kinds": {"title": _("Active and passive leads"), "columns": [_c("label", _("Kind"), TEXT), *FUNNEL, *RATES, SPEED[0]]},
    "weeks": {"title": _("Weekly trend"), "columns": [_c("key", _("Week (Monday)"), DATE), *FUNNEL, *RATES[:2],
                                                      SPEED[0]]},
    "speed": {"title": _("Speed-to-lead distribution"), "columns": [
        _c("label", _("Time to first attempt"), TEXT), _c("leads", _("Leads")), _c("share", _("Share"), RATE)]},
}

# Columns the dashboard leaves out of a table (the CSV export keeps them). The two steps of the 60% rule have one
# target per rooftop, the same on every person's row: the note above the table says them once. Per rooftop, the
# attempt bookkeeping stays in the CSV; the page keeps the one compliance figure that should be zero.
PAGE_HIDDEN: dict[str, frozenset[str]] = {
    "people": frozenset({"contact_target", "appointment_of_contacted_target"}),
    "dealers": frozenset({"closed_unreachable", "attempts_to_contact", "attempts_verified", "attempts_self_reported"}),
}


def cell_value(row, column: Column):
    """A row's value for a column: an attribute of the row, or one of its targets."""
    if hasattr(row, column.key):
        return getattr(row, column.key)
    return getattr(row, "targets", {}).get(column.key)


def definitions() -> list[tuple[str, str]]:
    """(label, definition) for every figure a table shows, in the order of DEFINITIONS."""
    labels: dict[str, str] = {}
    for table in TABLES.values():
        for column in table["columns"]:
            labels.setdefault(column.key, column.label)
    return [(labels.get(key, key), text) for key, text in DEFINITIONS.items()]
