from celery import shared_task
from django.conf import settings

from .mailbox import mailbox_poll as mailbox_poll_run
from .mailbox import mailboxes_due
from .services import outbox_flush as outbox_flush_run


@shared_task
def outbox_flush() -> int:
    """Send the e-mails of the outbox: on a wake-up after notices were committed, and every 30 s by beat (after a
    broker or worker outage, or a crash mid-send)."""
    return outbox_flush_run()


@shared_task
def mailboxes_poll() -> int:
    """Beat, every MAILBOX_POLL_SECONDS: one task per due mailbox, so one slow mail server holds up only itself."""
    due = mailboxes_due()
    for mailbox_id in due:
        # A task still queued after the next tick is dropped: that tick has queued a fresh one.
        mailbox_poll.apply_async((mailbox_id,), expires=settings.MAILBOX_POLL_SECONDS)
    return len(due)


@shared_task
def mailbox_poll(mailbox_id: int) -> int:
    """Read one mailbox (the same code as `manage.py mailbox_poll`); a poll cut short at its time budget continues."""
    from followup.services import mail_receive

    result = mailbox_poll_run(mailbox_id=mailbox_id, receive=mail_receive)
    if result.more:
        mailbox_poll.delay(mailbox_id)
    return len(result.read)
