"""Production: every secret comes from the environment and has no default, so a missing one fails at boot."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import databases, env

try:
    SECRET_KEY = env("SECRET_KEY")
    DATABASES = databases(env.db("DATABASE_URL"))
    REDIS_URL = env("REDIS_URL")
    MAILBOX_ENCRYPTION_KEY = env.list("MAILBOX_ENCRYPTION_KEY")
    SITE_URL = env("SITE_URL").rstrip("/")
    WEB_PUSH_VAPID_PRIVATE_KEY = env("WEB_PUSH_VAPID_PRIVATE_KEY")
    WEB_PUSH_VAPID_SUBJECT = env("WEB_PUSH_VAPID_SUBJECT")
except ImproperlyConfigured as exc:
    raise ImproperlyConfigured(f"Production settings: {exc}. See .env.example.") from exc
if len(SECRET_KEY) < 50 or SECRET_KEY.startswith("insecure"):
    raise ImproperlyConfigured("Production settings: SECRET_KEY must be a random value of at least 50 characters.")
if not MAILBOX_ENCRYPTION_KEY:
    raise ImproperlyConfigured("Production settings: MAILBOX_ENCRYPTION_KEY must hold at least one Fernet key.")

if WEB_PUSH_VAPID_PRIVATE_KEY in ("", DEV_WEB_PUSH_VAPID_PRIVATE_KEY):  # noqa: F405
    raise ImproperlyConfigured("Production settings: WEB_PUSH_VAPID_PRIVATE_KEY is empty or the public development key; "
                               "run `python manage.py webpush_keys`.")

DEBUG = False
CACHES = {"default": {"BACKEND": "config.cache.ReusedClientRedisCache", "LOCATION": REDIS_URL}}
OUTBOX_COALESCE_WAKEUPS = True
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_BROKER_TRANSPORT_OPTIONS = {"max_retries": 0}  # an enqueue with the broker down fails at once (base.py)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
