"""Tests run on the real PostgreSQL and Redis (CI provides both; scripts/test.sh starts them)."""

import os

from .base import *  # noqa: F403
from .base import env

# Parallel test workers (pytest-xdist) each get their own Redis database, so clearing one never touches another.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or "0"

DATABASES = {"default": env.db("TEST_DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/opvolger")}
_redis_base, _redis_db = env("TEST_REDIS_URL", default="redis://127.0.0.1:6379/15").rsplit("/", 1)
REDIS_URL = f"{_redis_base}/{int(_redis_db) - int(_worker) % 4}"
CACHES = {"default": {"BACKEND": "config.cache.ReusedClientRedisCache", "LOCATION": REDIS_URL}}
OUTBOX_COALESCE_WAKEUPS = True
CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_TRANSPORT_OPTIONS = {"max_retries": 0}  # as base.py gives a Redis broker
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; never in production
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LANGUAGE_CODE = "en"
MAILBOX_ALLOW_PRIVATE_HOSTS = True  # the tests' Dovecot listens on 127.0.0.1
MAILBOX_INGEST_THREADS = 1  # tests in a transaction see their rows only in their own thread; threaded tests set 4
SITE_URL = "http://testserver"
# The tests' own push service listens on 127.0.0.1; only the test settings name it (see leads/push.py).
WEB_PUSH_ALLOWED_HOSTS = ["127.0.0.1", *WEB_PUSH_ALLOWED_HOSTS]  # noqa: F405
WEB_PUSH_TIMEOUT = 2.0
