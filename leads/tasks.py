from celery import shared_task

from .services import notification_deliver, outbox_pending_ids


@shared_task(name="leads.tasks.notification_deliver")
def notification_deliver_task(notification_id: int) -> str:
    return notification_deliver(notification_id=notification_id)


@shared_task
def outbox_flush() -> int:
    """Deliver every notice still owed (after a broker or worker outage, or a crash mid-send)."""
    ids = outbox_pending_ids()
    for notification_id in ids:
        notification_deliver(notification_id=notification_id)
    return len(ids)
