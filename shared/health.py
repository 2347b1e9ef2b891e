"""A worker's liveness for container healthchecks, read from a file instead of Redis.

With ``BATON_HEARTBEAT_FILE`` set (the image sets it), the worker rewrites that file each time it
writes its heartbeat to Redis (:mod:`shared.reclaimer`): the file holds the moment until which
that heartbeat is valid. ``python -m shared.health`` exits 0 while it is, and 1 when the file is
stale, missing or unreadable: a worker whose event loop is stuck, or that cannot reach Redis, stops
refreshing it. The check imports nothing of the application and connects nowhere, so it costs
a Python start-up (~20 ms of CPU) where ``baton worker NAME --check`` costs about a second.

This module is the check's whole program: standard library only, and it reads the one variable
itself (building the settings object would import pydantic, most of the check's cost).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

HEARTBEAT_FILE_VARIABLE = "BATON_HEARTBEAT_FILE"


def write_heartbeat(path: Path, consumer: str, ttl_s: float, now: float | None = None) -> None:
    """Record that ``consumer``'s heartbeat holds for ``ttl_s`` from ``now`` (atomically)."""
    now = time.time() if now is None else now
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({"consumer": consumer, "valid_until": now + ttl_s}))
    os.replace(tmp, path)


def heartbeat_valid(path: Path, now: float | None = None) -> bool:
    """Whether the heartbeat recorded in ``path`` still holds at ``now``."""
    now = time.time() if now is None else now
    try:
        record = json.loads(path.read_bytes())
        return bool(float(record["valid_until"]) > now)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def main(argv: list[str] | None = None) -> int:
    """``python -m shared.health [FILE]``: 0 if the heartbeat in FILE (default: the
    ``BATON_HEARTBEAT_FILE`` variable) is valid, 1 if not, 2 with no file to read."""
    args = sys.argv[1:] if argv is None else argv
    name = args[0] if args else os.environ.get(HEARTBEAT_FILE_VARIABLE)
    if not name:
        print(f"usage: python -m shared.health FILE (or set {HEARTBEAT_FILE_VARIABLE})")
        return 2
    path = Path(name)
    if heartbeat_valid(path):
        return 0
    print(f"no valid heartbeat in {path}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
