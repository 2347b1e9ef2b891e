"""A worker's liveness for container healthchecks, read from a file instead of Redis.

With ``BATON_HEARTBEAT_FILE`` set (the image sets it), the worker rewrites that file each time it
writes its heartbeat to Redis (:mod:`shared.runtime.reclaimer`): the file holds the moment until
which
that heartbeat is valid. ``python -m shared.runtime.health`` exits 0 while it is, and 1 when the
file is
stale, missing or unreadable: a worker whose event loop is stuck, or that cannot reach Redis, stops
refreshing it. The check imports nothing of the application and connects nowhere, so it costs
little more than a Python start-up (~15 ms of CPU) where ``baton worker NAME --check`` costs
about a second.

This module is the check's whole program: it imports only ``os``, ``sys`` and ``time`` (not
even json or pathlib, a third of its cost), and reads the one variable itself (building the
settings object would import pydantic). The file is one line: ``<valid until, Unix time>
<consumer>``.
"""

from __future__ import annotations

import os
import sys
import time

HEARTBEAT_FILE_VARIABLE = "BATON_HEARTBEAT_FILE"
StrPath = str | os.PathLike[str]


def write_heartbeat(path: StrPath, consumer: str, ttl_s: float, now: float | None = None) -> None:
    """Record that ``consumer``'s heartbeat holds for ``ttl_s`` from ``now`` (atomically)."""
    now = time.time() if now is None else now
    name = os.fspath(path)
    tmp = os.path.join(os.path.dirname(name), f".{os.path.basename(name)}.tmp")
    with open(tmp, "w") as out:
        out.write(f"{now + ttl_s:.3f} {consumer}\n")
    os.replace(tmp, name)


def heartbeat_valid(path: StrPath, now: float | None = None) -> bool:
    """Whether the heartbeat recorded in ``path`` still holds at ``now``."""
    now = time.time() if now is None else now
    try:
        with open(path) as record:
            return float(record.read().split(maxsplit=1)[0]) > now
    except (OSError, ValueError, IndexError):
        return False


def main(argv: list[str] | None = None) -> int:
    """``python -m shared.runtime.health [FILE]``: 0 if the heartbeat in FILE (default: the
    ``BATON_HEARTBEAT_FILE`` variable) is valid, 1 if not, 2 with no file to read."""
    args = sys.argv[1:] if argv is None else argv
    name = args[0] if args else os.environ.get(HEARTBEAT_FILE_VARIABLE)
    if not name:
        print(f"usage: python -m shared.runtime.health FILE (or set {HEARTBEAT_FILE_VARIABLE})")
        return 2
    if heartbeat_valid(name):
        return 0
    print(f"no valid heartbeat in {name}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
