import os

from django.core.management.base import BaseCommand, CommandError

from dealers.models import Dealer
from leads.mailbox import MailboxError, ServerSettings, mailbox_check, mailbox_connect
from leads.models import AfterRead, MailboxSecurity


class Command(BaseCommand):
    help = ("Connect a dealer's own mailbox (IMAP): checks the connection, says what it found, and stores it. "
            "Mail already in the folder is read too.")

    def add_arguments(self, parser):
        parser.add_argument("dealer_slug")
        parser.add_argument("--host", required=True)
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--user", required=True)
        parser.add_argument("--password-env", required=True, metavar="VAR",
                            help="The environment variable that holds the password (never on the command line).")
        parser.add_argument("--folder", default="INBOX")
        parser.add_argument("--security", choices=MailboxSecurity.values, default=MailboxSecurity.SSL)
        parser.add_argument("--move-to", default="", metavar="FOLDER",
                            help="Move each mail read into this folder (default: mark it read where it is).")

    def handle(self, dealer_slug, host, port, user, password_env, folder, security, move_to, **options):
        dealer = Dealer.objects.filter(slug=dealer_slug).first()
        if dealer is None:
            raise CommandError(f"No dealer with slug {dealer_slug!r}.")
        password = os.environ.get(password_env)
        if not password:
            raise CommandError(f"The environment variable {password_env} is not set or empty.")
        if not 0 < port < 65536:
            raise CommandError("--port must be between 1 and 65535.")
        server = ServerSettings(host=host, port=port, username=user, password=password, security=security,
                                folder=folder, move_to=move_to)
        try:
            found = mailbox_check(server=server)
        except MailboxError as exc:
            raise CommandError(f"Not connected: {exc}") from exc
        mailbox = mailbox_connect(dealer=dealer, server=server,
                                  after_read=AfterRead.MOVE if move_to else AfterRead.MARK_SEEN)
        self.stdout.write(f"Connected to {user}@{host}:{port} ({security}), folder {folder!r}: "
                          f"{found.messages} message(s), {found.unseen} unread.")
        after = f"moved to {move_to!r}" if move_to else "marked as read"
        self.stdout.write(f"Mailbox #{mailbox.pk} of {dealer.name} ({dealer.slug}): every mail in the folder, "
                          f"including the {found.messages} already there, will be read into leads and {after}; "
                          "nothing is deleted.")
