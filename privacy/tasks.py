"""Celery tasks: thin wrappers that call services."""

from celery import shared_task

from .services import retention_run


@shared_task
def privacy_retention() -> int:
    """The nightly retention pass (the same code as `manage.py privacy_retention`)."""
    return len(retention_run())
