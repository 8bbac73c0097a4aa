"""Configuration: production refuses to start without its secrets."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BOOT = "import django; django.setup(); print('booted')"


def run_with(env_overrides: dict, drop: tuple = ()) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("DJANGO_")}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings.production", **env_overrides})
    return subprocess.run([sys.executable, "-c", BOOT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


PRODUCTION_ENV = {
    "SECRET_KEY": "k7#Qm2!vZ9pL$4rT8wX1yB6nC3eF0gH5jK-aS_dU+iO*lP@zV&bN^mQ%tR(e)W",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/opvolger",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "ALLOWED_HOSTS": "opvolger.example.nl",
    "MAILBOX_ENCRYPTION_KEY": "p2mS3mH1b9n7wE7QxkN0v3Zf0qk9q3p2J8tKc1d4yXo=",
    "SITE_URL": "https://opvolger.example.nl",
    "WEB_PUSH_VAPID_PRIVATE_KEY": "0BLXAX5Ngt_SiXo9RXTXlXLY0YLB0nK-LNuNk8bvBdM",
    "WEB_PUSH_VAPID_SUBJECT": "mailto:beheer@opvolger.example.nl",
}


def test_production_without_secret_key_fails_at_start_with_a_clear_message():
    env = dict(PRODUCTION_ENV)
    env.pop("SECRET_KEY")
    result = run_with(env, drop=("SECRET_KEY",))
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr and ".env.example" in result.stderr


def test_production_without_a_mailbox_key_fails_at_start():
    env = dict(PRODUCTION_ENV)
    env.pop("MAILBOX_ENCRYPTION_KEY")
    result = run_with(env, drop=("MAILBOX_ENCRYPTION_KEY",))
    assert result.returncode != 0
    assert "MAILBOX_ENCRYPTION_KEY" in result.stderr


def test_production_boots_with_its_variables_and_passes_check_deploy():
    result = run_with(PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings.production", **PRODUCTION_ENV})
    check = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "no issues" in check.stdout
