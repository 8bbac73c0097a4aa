"""/healthz: database, Redis and the scheduler's last tick, with a status a load balancer can act on."""

import datetime as dt

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from leads.selectors import mailboxes_failing_count

from .models import SchedulerHeartbeat

BEAT_STALE_AFTER = dt.timedelta(minutes=3)


def check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True}
    except Exception as exc:  # any failure means unhealthy, and the reason is the useful part
        return {"ok": False, "error": str(exc)[:200]}


def check_redis() -> dict:
    if not settings.REDIS_URL:
        return {"ok": True, "detail": "not configured (embedded mode)"}
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
        return {"ok": True}
    except Exception as exc:
        return {"ok": False, "error": str(exc)[:200]}


def check_beat() -> dict:
    try:
        beat = SchedulerHeartbeat.objects.filter(name="heartbeat").first()
    except Exception as exc:
        return {"ok": False, "error": str(exc)[:200]}
    if beat is None:
        return {"ok": False, "last_tick": None, "error": "no tick recorded yet"}
    age = timezone.now() - beat.at
    return {"ok": age <= BEAT_STALE_AFTER, "last_tick": beat.at.isoformat(), "age_seconds": int(age.total_seconds())}


def check_mailboxes() -> dict:
    """How many dealers' mailboxes fail to be read; the errors themselves are on the managers' settings page."""
    try:
        failing = mailboxes_failing_count()
    except Exception:
        return {"ok": False, "error": "unknown"}
    return {"ok": failing == 0, "failing": failing}


@never_cache
def healthz(request):
    checks = {"database": check_database(), "redis": check_redis()}
    checks["beat"] = check_beat() if checks["database"]["ok"] else {"ok": False, "error": "database unavailable"}
    checks["mailboxes"] = check_mailboxes() if checks["database"]["ok"] else {"ok": False, "error": "database unavailable"}
    # The web node can serve requests without beat or a dealer's mail server: reported as degraded, not a 503.
    healthy = checks["database"]["ok"] and checks["redis"]["ok"]
    status = "ok" if healthy and checks["beat"]["ok"] and checks["mailboxes"]["ok"] else ("degraded" if healthy else "unhealthy")
    if not (request.user.is_authenticated and request.user.is_staff):
        # Error texts name hosts, ports and versions: staff only. Anyone else gets each check's verdict and counts.
        checks = {name: {k: v for k, v in check.items() if k not in ("error", "detail")} for name, check in checks.items()}
    return JsonResponse({"status": status, "checks": checks}, status=200 if healthy else 503)
