"""Worker processes collect cycles rarely and never walk their start-up objects."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from shared.runtime import heap


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


def _import_logs(*args: str) -> list[set[str]]:
    """The modules each Python process of ``python ARGS`` imported (one set per process, from
    ``PYTHONPROFILEIMPORTTIME``), run without REDIS_URL: a service stops where it first needs
    Redis, after its imports."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "BATON_REDIS_URL")}
    env["PYTHONPROFILEIMPORTTIME"] = "1"
    done = subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert "REDIS_URL is not set" in done.stderr, done.stderr[-2000:]
    processes: list[set[str]] = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        if "imported package" in line:  # the header each interpreter prints first
            processes.append(set())
        else:
            processes[-1].add(line.rsplit("|", 1)[1].strip())
    return processes


def _imports_of_service(service: str) -> set[str]:
    (imported,) = _import_logs("-m", f"services.{service}")
    return imported


@pytest.mark.parametrize("service", ["intake", "triage", "responder", "validator"])
def test_worker_processes_load_no_terminal_rendering_or_client_metrics_sdk(service: str) -> None:
    imported = _imports_of_service(service)
    assert {"structlog", "redis.asyncio"} <= imported  # the libraries that would load them
    # (-X importtime also lists the kept-out packages themselves, as failed imports)
    kept_out = ("rich.", "pygments", "opentelemetry.sdk.metrics.")
    assert {m for m in imported if m.startswith(kept_out)} == set()


def test_baton_worker_hands_its_process_over_to_the_services_own_entry_point() -> None:
    cli, service = _import_logs("-m", "shared.ops.cli.app", "worker", "triage")
    assert "typer" in cli
    assert "typer" not in service
    assert "services.triage" in service
    assert {m for m in service if m.startswith(("rich.", "pygments"))} == set()


def _run(script: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


def test_libraries_take_their_fallbacks_when_modules_are_kept_out() -> None:
    out = _run(
        "import sys\n"
        "from shared.runtime import heap\n"
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
        "from shared.runtime import heap\n"
        "heap.keep_out_unused_modules()\n"
        "import rich.table\n"
        "print(sys.modules['rich'] is not None)\n"
    )
    assert out == "True\n"
