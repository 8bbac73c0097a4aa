from django.core.management.base import BaseCommand, CommandError

from dealers.models import Dealer
from followup.services import mail_receive
from leads.mailbox import mailbox_poll
from leads.models import Mailbox


class Command(BaseCommand):
    help = ("Read every connected mailbox once now (the same code the scheduled task runs) and print what became a "
            "lead and what was ignored. Safe beside the scheduler: a mail becomes a lead once.")

    def add_arguments(self, parser):
        parser.add_argument("dealer_slug", nargs="?")

    def handle(self, dealer_slug=None, **options):
        mailboxes = Mailbox.objects.unscoped().filter(is_active=True).select_related("dealer").order_by("dealer__slug", "pk")
        if dealer_slug:
            if not Dealer.objects.filter(slug=dealer_slug).exists():
                raise CommandError(f"No dealer with slug {dealer_slug!r}.")
            mailboxes = mailboxes.filter(dealer__slug=dealer_slug)
        failed = 0
        for mailbox in mailboxes:
            result = mailbox_poll(mailbox_id=mailbox.pk, receive=mail_receive)
            label = f"{mailbox.dealer.slug} {mailbox}"
            if result.skipped:
                self.stdout.write(f"{label}: being read by another poller right now; skipped.")
                continue
            if result.error:
                failed += 1
                self.stdout.write(f"{label}: FAILED after {len(result.read)} mail(s): {result.error}")
            else:
                self.stdout.write(f"{label}: {len(result.read)} new mail(s).")
            for ingested in result.read:
                self.stdout.write("  " + describe(ingested))
            for uid in result.not_mail:
                self.stdout.write(f"  UID {uid}: not an e-mail message (no header); left unread in the mailbox")
        if failed:
            raise CommandError(f"{failed} mailbox(es) could not be read; see above.")


def describe(ingested) -> str:
    mail = ingested.mail
    subject = f"{mail.sender} · {mail.subject[:60]!r}: "
    if ingested.duplicate:
        return subject + "already stored earlier (the same mail again): nothing new"
    if ingested.ignored:
        return subject + f"ignored ({mail.get_ignored_display()})"
    if mail.error and not ingested.leads:
        return subject + f"kept with an error, no lead: {mail.error[:200]}"
    leads = ", ".join(
        f"lead #{r.lead.pk} ({r.lead.source}){'' if r.created else ' (already known)'}"
        f"{' for ' + r.lead.assignee.display_name if r.lead.assignee_id else ''}" for r in ingested.leads)
    return subject + (f"became {leads}" if leads else "stored, no lead")
