"""Celery tasks: thin wrappers that call services."""

from celery import shared_task
from django.utils import timezone

from . import appointment_mail
from .imports import import_check, import_queued_run, imports_tend
from .models import SchedulerHeartbeat
from .services import followup_sweep as run_sweep
from .services import manager_digest_send


@shared_task
def heartbeat():
    SchedulerHeartbeat.objects.update_or_create(name="heartbeat", defaults={"at": timezone.now()})


@shared_task
def followup_sweep() -> int:
    """The scheduled pass of the follow-up timers (the same code as `manage.py followup_sweep`)."""
    return len(run_sweep())


@shared_task
def manager_digest() -> int:
    return manager_digest_send()


@shared_task
def lead_import_check(lead_import_id: int) -> None:
    import_check(lead_import_id=lead_import_id)


# acks_late: if the worker dies mid-import the transaction rolls back and the broker hands the task out again.
@shared_task(acks_late=True, reject_on_worker_lost=True)
def lead_import_run(lead_import_id: int) -> None:
    import_queued_run(lead_import_id=lead_import_id)


@shared_task
def lead_imports_tend() -> int:
    """Uploads still waiting for the worker after a broker outage get handed to it again; stale ones are given up."""
    return imports_tend()


@shared_task
def customer_messages_send() -> int:
    """Appointment mails to customers, after commit (and every minute for whatever an outage left)."""
    return appointment_mail.customer_messages_send()


@shared_task
def appointment_reminders() -> int:
    """The day-before reminders; a unique constraint makes a doubled run send nothing twice."""
    queued = appointment_mail.appointment_reminders_queue()
    appointment_mail.customer_messages_send()
    return queued
