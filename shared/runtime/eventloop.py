"""The event loop every Baton process runs on.

uvloop where it is installed (Linux and macOS: a dependency there), else asyncio's own loop.
Each entry costs a Baton worker several task switches, socket writes and callbacks, and uvloop's
are several times cheaper. The raw benchmark ceiling runs on the same loop, so the comparison
stays fair.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from importlib import metadata
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a new event loop, like :func:`asyncio.run`."""
    try:
        import uvloop
    except ImportError:  # e.g. Windows, where uvloop does not build
        return asyncio.run(main)
    return uvloop.run(main)


def loop_name() -> str:
    """Which loop :func:`run` uses, for reports."""
    try:
        return f"uvloop {metadata.version('uvloop')}"
    except metadata.PackageNotFoundError:
        return "asyncio"
