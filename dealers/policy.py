"""The follow-up policy's rules, in one place: the forms, the team API and the services all call these."""

from collections.abc import Mapping

from django.utils.translation import gettext as _

# The escalation steps fire in this order, so a later step may not come sooner than the one before it.
ESCALATION_STEPS = ("remind_after_minutes", "manager_alert_after_minutes", "reassign_after_minutes")
POLICY_FIELDS = ("first_response_minutes", "passive_first_response_days", "min_attempts", "attempt_spacing_minutes",
                 "cadence_days", "remind_after_minutes", "manager_alert_after_minutes", "reassign_after_minutes",
                 "lost_sale_followup_days", "map_target", "contact_target", "appointment_of_contacted_target")


def attempts_owed(*, counted_attempts: int, policy) -> int:
    """How many more (spaced) attempts are needed before a lead may be called unreachable."""
    return max(policy.min_attempts - counted_attempts, 0)


def policy_problems(values: Mapping) -> dict[str, list[str]]:
    """What is wrong with a whole policy (its fields by name); empty when it may be saved."""
    problems: dict[str, list[str]] = {}
    if values.get("min_attempts") is not None and values["min_attempts"] < 1:
        problems["min_attempts"] = [_("At least one attempt.")]
    for earlier, later in zip(ESCALATION_STEPS, ESCALATION_STEPS[1:], strict=False):
        if values.get(earlier) is not None and values.get(later) is not None and values[later] < values[earlier]:
            problems[later] = [_("Must be at least %(minutes)s minutes: the step before it comes first.")
                               % {"minutes": values[earlier]}]
    return problems
