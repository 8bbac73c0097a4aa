"""Celery tasks: thin wrappers that call services."""

from celery import shared_task

from .services import open_lead_counts_fold as fold


@shared_task
def open_lead_counts_fold() -> int:
    """Folds the count rows of dealers whose round-robin has not done it itself (a dealer whose leads all go to the
    BDC: the agents' claims and closes still add rows)."""
    return fold()
