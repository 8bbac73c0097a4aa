"""Domain errors: a rule refused an action. Each says why in words the person can act on, and carries the problem type
the API answers with (`dealers.api.problem_exception_handler` maps every one of them, once); pages show `.detail`."""


class DomainError(Exception):
    status_code = 409
    problem_type = "rule-refused"
    title = "Conflict"

    def __init__(self, detail: str, **extra):
        super().__init__(detail)
        self.detail = detail
        self.extra = extra  # machine-readable facts for the problem body (e.g. attempts_owed)


class LeadClosed(DomainError):
    problem_type = "lead-closed"


class AttemptsOwed(DomainError):
    problem_type = "attempts-owed"


class NotOnTheTeam(DomainError):
    """The person chosen does not work for this dealer in a role that can take the lead."""

    status_code = 400
    problem_type = "not-on-the-team"
    title = "Invalid request"


class FollowUpRuleError(DomainError):
    problem_type = "follow-up-rule"
