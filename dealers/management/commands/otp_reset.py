from django.core.management.base import BaseCommand, CommandError

from dealers.models import TeamToken, User
from dealers.services import second_factor_reset


class Command(BaseCommand):
    help = ("Reset a person's second sign-in step (lost phone and recovery codes): their authenticator app and "
            "recovery codes are removed, and they set up a new app at their next sign-in.")

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--revoke-tokens", action="store_true",
                            help="Also sign all their devices out of the team API (when the phone was stolen).")

    def handle(self, email, revoke_tokens, **options):
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user with e-mail address {email!r}.")
        removed = second_factor_reset(user=user)
        self.stdout.write(f"Second step of {user.email} reset ({removed} device(s) and codes removed); "
                          "they set up their app again at the next sign-in.")
        if revoke_tokens:
            count, _per_model = TeamToken.objects.filter(user=user).delete()
            self.stdout.write(f"{count} team-API token(s) revoked.")
