"""Celery tasks: thin wrappers that call services."""

from celery import shared_task
from django.utils import timezone

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
