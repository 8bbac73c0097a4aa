"""/healthz tells a load balancer whether this node can serve."""

import pytest
from django.test import override_settings
from django.utils import timezone

from followup.models import SchedulerHeartbeat
from followup.tasks import heartbeat

pytestmark = pytest.mark.django_db


def test_healthy_with_database_redis_and_a_recent_beat(client):
    heartbeat()
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] and body["checks"]["redis"]["ok"] and body["checks"]["beat"]["ok"]


def test_unhealthy_when_redis_is_unreachable(client):
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["ok"] is False


def test_a_stale_beat_is_reported_but_the_node_still_serves(client):
    SchedulerHeartbeat.objects.create(name="heartbeat", at=timezone.now() - timezone.timedelta(minutes=10))
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["beat"]["ok"] is False


def test_error_texts_are_for_staff_only(client, cast):
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        anonymous = client.get("/healthz").json()
        client.force_login(cast.sales_a1)
        colleague = client.get("/healthz").json()
        client.force_login(cast.manager_a)  # staff in the cast
        staff = client.get("/healthz").json()
    assert anonymous["checks"]["redis"] == {"ok": False} and anonymous["status"] == "unhealthy"
    assert "127.0.0.1" not in str(anonymous) and colleague["checks"]["redis"] == {"ok": False}
    assert "error" in staff["checks"]["redis"]
