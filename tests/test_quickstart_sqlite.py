"""The README's first command runs on SQLite (no PostgreSQL or Redis configured), which the rest of the suite never
touches: its migrate and seed_demo, then every page, a portal's lead, the sweep and the outbox on that database
(tests/quickstart_smoke.py), in processes of their own with the Quick start's settings."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_quick_start_runs_on_its_embedded_sqlite(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "CELERY_", "PYTEST_"))}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.local", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
               PYTHONPATH=str(ROOT))

    def run(*args: str) -> str:
        done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
        return done.stdout

    run("manage.py", "migrate", "--noinput", "-v0")
    assert "Demo ready" in run("manage.py", "seed_demo")
    assert "quick start smoke: ok" in run("-m", "tests.quickstart_smoke")
