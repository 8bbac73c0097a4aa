"""Production settings plus the benchmark's bare comparison endpoint."""

from config.settings.production import *  # noqa: F403

ROOT_URLCONF = "bench.bench_urls"
