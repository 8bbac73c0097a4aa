"""Print a new VAPID key pair for Web Push as lines to paste into .env."""

import base64

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.core.management.base import BaseCommand
from py_vapid import Vapid


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Command(BaseCommand):
    help = "Print a new VAPID key pair (WEB_PUSH_VAPID_PRIVATE_KEY, WEB_PUSH_VAPID_PUBLIC_KEY) as KEY=VALUE lines."

    def handle(self, *args, **options):
        vapid = Vapid()
        vapid.generate_keys()
        private = vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
        public = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        self.stdout.write(f"WEB_PUSH_VAPID_PRIVATE_KEY={_b64(private)}")
        self.stdout.write(f"WEB_PUSH_VAPID_PUBLIC_KEY={_b64(public)}")
        self.stdout.write(f"WEB_PUSH_VAPID_SUBJECT={settings.WEB_PUSH_VAPID_SUBJECT}")
        # Changing the pair invalidates every browser's subscription: browsers subscribe again from the inbox switch.
        self.stderr.write("Keep the private key secret. A new pair means every device must switch alerts on again.")
