"""The production WSGI entry point for the benchmarks' gunicorn, which adds one thing when BENCH_GC_LOG names a
directory: each worker records there every garbage collection it runs (generation, CPU seconds, when it ended), which
bench/intake.py reads to say what the collector costs a lead."""

import gc
import os
import time
from pathlib import Path

from config.wsgi import application  # noqa: F401

if os.environ.get("BENCH_GC_LOG"):
    _record = (Path(os.environ["BENCH_GC_LOG"]) / f"gc.{os.getpid()}").open("a", buffering=1)
    _began: list[float] = []

    def _collection(phase: str, info: dict) -> None:
        if phase == "start":
            _began[:] = [time.thread_time()]
        elif _began:
            _record.write(f"{time.time():.6f} {info['generation']} {time.thread_time() - _began[0]:.6f}\n")

    gc.callbacks.append(_collection)
