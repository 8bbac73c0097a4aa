"""Celery tasks: thin wrappers that call services."""

from celery import shared_task

from .services import open_lead_counts_fold_piled_up, open_lead_counts_true_up


@shared_task
def open_lead_counts_tend() -> int:
    """Corrects any count that a write bypassing the triggers left wrong, then folds the count rows of dealers whose
    round-robin has not done it itself. Returns the rows folded away."""
    open_lead_counts_true_up()
    return open_lead_counts_fold_piled_up()
