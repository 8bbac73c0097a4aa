from celery import shared_task

from .services import outbox_flush as outbox_flush_run


@shared_task
def outbox_flush() -> int:
    """Send the e-mails of the outbox: on a wake-up after notices were committed, and every 30 s by beat (after a
    broker or worker outage, or a crash mid-send)."""
    return outbox_flush_run()
