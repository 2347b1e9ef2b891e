"""Worker processes collect cycles rarely and never walk their start-up objects."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from shared import heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_service_start_up_freezes_existing_objects_and_collects_young_ones_less_often() -> None:
    _, middle, old = gc.get_threshold()
    heap.tune()
    assert gc.get_freeze_count() > 1000  # at least the imports' objects
    assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, middle, old)


def _imports_of_service(service: str) -> set[str]:
    """Every module ``python -m services.<service>`` imports before it first needs Redis
    (started without REDIS_URL, it stops there), from ``-X importtime``."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "BATON_REDIS_URL")}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", f"services.{service}"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert "REDIS_URL is not set" in done.stderr, done.stderr[-2000:]
    return {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


@pytest.mark.parametrize("service", ["intake", "triage", "responder", "validator"])
def test_worker_processes_load_no_terminal_rendering_or_client_metrics_sdk(service: str) -> None:
    imported = _imports_of_service(service)
    assert {"structlog", "redis.asyncio"} <= imported  # the libraries that would load them
    # (-X importtime also lists the kept-out packages themselves, as failed imports)
    kept_out = ("rich.", "pygments", "opentelemetry.sdk.metrics.")
    assert {m for m in imported if m.startswith(kept_out)} == set()


def _run(script: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


def test_libraries_take_their_fallbacks_when_modules_are_kept_out() -> None:
    out = _run(
        "import sys\n"
        "from shared import heap\n"
        "heap.keep_out_unused_modules()\n"
        "import redis.asyncio, structlog\n"
        "print(sys.modules['rich'], sys.modules['opentelemetry.sdk.metrics'])\n"
        "error = (ValueError, ValueError('boom'), None)\n"
        "print(structlog.dev.ConsoleRenderer(colors=False)(None, 'error', "
        "{'event': 'x', 'exc_info': error}))\n"
    )
    assert out.startswith("None None\n")
    assert "ValueError: boom" in out  # a plain traceback instead of rich's


def test_a_module_already_loaded_is_left_alone() -> None:
    out = _run(
        "import sys, rich.console\n"
        "from shared import heap\n"
        "heap.keep_out_unused_modules()\n"
        "import rich.table\n"
        "print(sys.modules['rich'] is not None)\n"
    )
    assert out == "True\n"
