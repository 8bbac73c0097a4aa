"""Settings shared by every environment; environments differ only in configuration."""

import datetime as dt
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("SECRET_KEY", default="insecure-dev-key-change-me")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "dealers",
    "leads",
    "routing",
    "followup",
    "reporting",
    "privacy",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.middleware.ChunkedBodyMiddleware",  # before anything reads the body
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "config.middleware.NoStoreMiddleware",  # wraps everything below, the second-factor redirects included
    "django_otp.middleware.OTPMiddleware",
    "dealers.middleware.SecondFactorRequiredMiddleware",  # managers: no page or session API call before the 2nd factor
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out sign-in into the 429 page
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dealers.context_processors.dealer_scope",
            ],
        },
    },
]


def databases(default: dict) -> dict:
    """The primary and, with DATABASE_REPLICA_URL, a streaming replica that only the dashboard's figures read
    (config/db_router.py); without it everything reads the primary."""
    result = {"default": default}
    if env("DATABASE_REPLICA_URL", default=""):
        result["replica"] = env.db("DATABASE_REPLICA_URL")
    for database in result.values():
        database["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
        database["CONN_HEALTH_CHECKS"] = True  # a connection PostgreSQL dropped (restart) is replaced, not a 500
        # Behind PgBouncer in transaction pooling a cursor cannot outlive its transaction's server connection, and a
        # statement prepared in one transaction is not found in the next: the intake's are then sent as text
        # (dealers/rows.py).
        database["DISABLE_SERVER_SIDE_CURSORS"] = env.bool("DISABLE_SERVER_SIDE_CURSORS", default=False)
    return result


# Embedded default: SQLite when no DATABASE_URL is set (the Quick start); production requires one.
DATABASES = databases(env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"))
DATABASE_ROUTERS = ["config.db_router.ReplicaRouter"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share the embedded database: wait for locks instead of failing, and let readers in.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE",
                                       "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    SILENCED_SYSTEM_CHECKS = ["models.W040"]  # the reports' covering index is PostgreSQL-only; SQLite gets a plain one
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "dealers.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
# Sign-in limits (dealers/lockout.py): an account is locked for one client after 10 failures in 15 minutes; a client
# is stopped after LOGIN_FAILURES_PER_CLIENT failures over any accounts. 429 with the lockout page.
AXES_HANDLER = "dealers.lockout.AccountAndClientHandler"
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURES_PER_ACCOUNT", default=10)
LOGIN_FAILURES_PER_CLIENT = env.int("LOGIN_FAILURES_PER_CLIENT", default=50)
AXES_COOLOFF_TIME = dt.timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "dealers.lockout.login_username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "dealers.lockout.lockout_response"
AXES_VERBOSE = False
# Which request header holds the client's address; only name a header your own proxy sets (else it is forged).
AXES_IPWARE_META_PRECEDENCE_ORDER = env.list("CLIENT_IP_HEADERS", default=["REMOTE_ADDR"])
PASSWORD_RESETS_PER_HOUR = 5
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "nl"
LANGUAGES = [("nl", _("Dutch")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Amsterdam"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Redis serves the cache (throttling, idempotency windows) and, by default, the Celery broker.
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "config.cache.ReusedClientRedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# "localhost" only names the file broker (kombu warns "No hostname was supplied" without one); it opens no socket.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = BASE_DIR / "var" / "celery-broker"
    (_queue_dir / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_queue_dir / "processed"),
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
        "polling_interval": 0.2,  # how often the worker looks for new task files (default 1 s: a burst crawls)
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"max_retries": 0}  # a publish whose broker is down fails at once (see below)
# With the broker down, an enqueue inside a request failed only after ~0.64 s of retries (6 s without max_retries):
# every caller keeps its work in rows that a periodic task picks up, so one immediate retry (a pooled connection the
# broker dropped) is enough: ~13 ms with the broker down.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0, "interval_max": 0}
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=1.0)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# One outbox flush per burst of notices needs a flag that web and worker both see: Redis. Without it, one per notice.
OUTBOX_COALESCE_WAKEUPS = "redis" in CACHES["default"]["BACKEND"].lower()
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULE_FILENAME = str(BASE_DIR / "var" / "celerybeat-schedule")
# Deadlines fire within about this interval plus a pass; "nothing due" is one index probe, so every 5 s is cheap.
FOLLOWUP_SWEEP_SECONDS = env.int("FOLLOWUP_SWEEP_SECONDS", default=5)
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "followup.tasks.heartbeat", "schedule": 15.0},
    # A sweep still queued when the next one is due is dropped: passes pile up behind a long burst otherwise.
    "followup-sweep": {"task": "followup.tasks.followup_sweep", "schedule": float(FOLLOWUP_SWEEP_SECONDS),
                       "options": {"expires": float(FOLLOWUP_SWEEP_SECONDS)}},
    "outbox-flush": {"task": "leads.tasks.outbox_flush", "schedule": 30.0},
    "lead-imports-tend": {"task": "followup.tasks.lead_imports_tend", "schedule": 60.0},
    "manager-digest": {"task": "followup.tasks.manager_digest", "schedule": crontab(hour=7, minute=30)},
    "customer-messages": {"task": "followup.tasks.customer_messages_send", "schedule": 60.0},
    "appointment-reminders": {"task": "followup.tasks.appointment_reminders", "schedule": crontab(minute=0)},
    # AVG/GDPR retention: old raw submissions purged, inactive leads anonymised; a quiet hour, once a day.
    "privacy-retention": {"task": "privacy.tasks.privacy_retention", "schedule": crontab(hour=3, minute=40)},
    "open-lead-counts-tend": {"task": "routing.tasks.open_lead_counts_tend", "schedule": crontab(minute=20)},
}
# The sweep has a queue of its own: behind a Monday burst the outbox flush sends thousands of e-mails in one task, and a
# sweep queued behind it would expire. Every worker command consumes it (`-Q celery,timers`); a busy site runs one
# small worker on `-Q timers` alone.
CELERY_TASK_ROUTES = {"followup.tasks.followup_sweep": {"queue": "timers"}}

# Dealers' own mailboxes (IMAP): beat hands every due mailbox to the worker this often, one task per mailbox.
MAILBOX_POLL_SECONDS = env.int("MAILBOX_POLL_SECONDS", default=15)
CELERY_BEAT_SCHEDULE["mailboxes-poll"] = {"task": "leads.tasks.mailboxes_poll", "schedule": float(MAILBOX_POLL_SECONDS)}
# Mails of one fetched batch stored side by side (each thread its own database connection); 1 = one after another.
MAILBOX_INGEST_THREADS = env.int("MAILBOX_INGEST_THREADS", default=2)
MAILBOX_TIMEOUT_SECONDS = env.int("MAILBOX_TIMEOUT_SECONDS", default=30)  # per socket operation; a hung server
MAILBOX_TLS_CA_FILE = env("MAILBOX_TLS_CA_FILE", default="") or None  # extra CA bundle; empty = the system's
# The settings page refuses mail servers on private networks and this machine (it must not probe our own services).
MAILBOX_ALLOW_PRIVATE_HOSTS = env.bool("MAILBOX_ALLOW_PRIVATE_HOSTS", default=False)
# Fernet keys for the mailbox passwords, comma-separated: the first encrypts, all decrypt (rotation). Outside
# production a key is derived from SECRET_KEY so the quick start needs none; production requires its own.
MAILBOX_ENCRYPTION_KEY = env.list("MAILBOX_ENCRYPTION_KEY", default=[])
CELERY_TIMEZONE = TIME_ZONE

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)  # seconds; a hung mail server must not hold the outbox
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Opvolger <noreply@opvolger.local>")

# Links in notice e-mails are absolute: the address users open the app at.
SITE_URL = env("SITE_URL", default="http://localhost:8000").rstrip("/")

# Web Push (RFC 8030/8291/8292). The VAPID pair signs every push; `python manage.py webpush_keys` prints a new one.
# Local and test settings fall back to this committed development pair; production requires its own.
DEV_WEB_PUSH_VAPID_PRIVATE_KEY = "-J21HQuHlWPgS56gQbTfaYF9GP5hMwqwT5qDmVObov8"  # development only: it is public
WEB_PUSH_VAPID_PRIVATE_KEY = env("WEB_PUSH_VAPID_PRIVATE_KEY", default="") or DEV_WEB_PUSH_VAPID_PRIVATE_KEY
WEB_PUSH_VAPID_SUBJECT = env("WEB_PUSH_VAPID_SUBJECT", default="mailto:dev@opvolger.local")
# The server only ever calls these hosts (a subscription's endpoint is untrusted input); `*.` matches subdomains.
WEB_PUSH_ALLOWED_HOSTS = env.list("WEB_PUSH_ALLOWED_HOSTS", default=[
    "fcm.googleapis.com", "android.googleapis.com",  # Chrome, Edge on Android, Samsung Internet, Opera
    "updates.push.services.mozilla.com",  # Firefox
    "*.push.apple.com",  # Safari (macOS, iOS home-screen apps)
    "*.notify.windows.com",  # Edge on Windows (WNS)
])
WEB_PUSH_TIMEOUT = env.float("WEB_PUSH_TIMEOUT", default=5.0)  # seconds; a hung push service must not hold the outbox
WEB_PUSH_TTL = env.int("WEB_PUSH_TTL", default=4 * 3600)  # how long a push service keeps a message for an offline phone

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["dealers.parsers.BoundedJSONParser"],
    "DEFAULT_METADATA_CLASS": "dealers.parsers.ActionlessMetadata",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "dealers.api.problem_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Opvolger API",
    "DESCRIPTION": "Portal lead intake (JSON and ADF/XML), portal read-back and the team API.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Two enums are both called "channel": how the customer reached out, and how we tried to reach them.
    "ENUM_NAME_OVERRIDES": {"LeadChannelEnum": "leads.models.Channel", "AttemptChannelEnum": "followup.models.AttemptChannel"},
}

# Team-API tokens (django-rest-knox): one per signed-in device, stored hashed, expiring after this many hours.
TEAM_TOKEN_TTL_HOURS = env.int("TEAM_TOKEN_TTL_HOURS", default=24 * 30)
KNOX_TOKEN_MODEL = "dealers.TeamToken"
# knox's own AuthToken is swapped for ours: its migrations would only create an unused table that blocks TRUNCATE.
MIGRATION_MODULES = {"knox": None}
REST_KNOX = {
    "TOKEN_TTL": dt.timedelta(hours=TEAM_TOKEN_TTL_HOURS),
    "AUTH_HEADER_PREFIX": "Token",  # the contract's `Authorization: Token <token>`
    "TOKEN_MODEL": KNOX_TOKEN_MODEL,
}

# Two-step sign-in (django-otp): the name an authenticator app shows next to the code.
OTP_TOTP_ISSUER = "Opvolger"

# Only our own files run or style a page; nothing may frame it. The API docs page needs data: images (see docs/security.md).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "font-src": [SELF],
        "connect-src": [SELF],
        "worker-src": [SELF],
        "manifest-src": [SELF],
        "frame-ancestors": [NONE],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
    },
}
PERMISSIONS_POLICY = {
    feature: [] for feature in (
        "accelerometer", "autoplay", "camera", "display-capture", "geolocation", "gyroscope", "magnetometer",
        "microphone", "midi", "payment", "usb", "xr-spatial-tracking",
    )
}

# Requests that a portal sends are bounded; 1 MiB is the contract's limit for a lead document.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024 + 1024
LEAD_BODY_MAX_BYTES = 1024 * 1024
# A chunked body (no Content-Length) is read up to this, then refused with 413: the largest body any endpoint takes
# (a raw e-mail, 10 MiB) with room for its envelope.
CHUNKED_BODY_MAX_BYTES = 10 * 1024 * 1024 + 64 * 1024
IDEMPOTENCY_KEY_MAX_LENGTH = 200  # the ADF intake stores "<key>#<prospect index>" in a 255-character column
MAIL_BODY_MAX_BYTES = 10 * 1024 * 1024  # POST /api/v1/leads/mail/: a raw e-mail with its attachments (the contract's limit)
DEFAULT_API_KEY_RATE_PER_MINUTE = env.int("DEFAULT_API_KEY_RATE_PER_MINUTE", default=1200)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}
