"""The Quick start: SQLite and a file-based Celery broker unless DATABASE_URL / REDIS_URL are set."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
MAILBOX_ALLOW_PRIVATE_HOSTS = env.bool("MAILBOX_ALLOW_PRIVATE_HOSTS", default=True)  # a mail server on the laptop or LAN
