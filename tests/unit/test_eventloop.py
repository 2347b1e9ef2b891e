"""Services, the CLI and the benchmark's raw ceiling all run on the same event loop."""

from __future__ import annotations

import asyncio
import sys

import pytest

from shared.runtime import eventloop


async def running_loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop is not a dependency on Windows")
def test_processes_run_on_uvloop_where_it_is_a_dependency() -> None:
    assert eventloop.run(running_loop_module()).startswith("uvloop")
    assert eventloop.loop_name().startswith("uvloop ")
