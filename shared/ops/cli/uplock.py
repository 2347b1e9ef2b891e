"""One ``baton up`` per folder, and how every other command finds it.

A running ``up`` holds an exclusive lock on ``.baton/up.lock`` (``flock``, released by the kernel
when the process ends, however it ends) and writes in it its pid, its start time and its Redis URL.
A second ``up`` in the same folder is refused with the first one's details; every other command
(``status``, ``post``, ``worker`` ...) reads the URL from the same file, and only while an ``up``
holds the lock, so a stale file left by a killed ``up`` is never mistaken for a live Redis.
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import orjson

from shared.errors import BatonError

STATE_DIR = Path(".baton")


@dataclass(frozen=True)
class UpRecord:
    """What a running ``up`` says about itself."""

    pid: int
    started: float
    redis_url: str
    embedded: bool

    def describe(self) -> str:
        since = time.strftime("%H:%M:%S", time.localtime(self.started))
        return f"pid {self.pid}, started {since}, Redis at {self.redis_url}"


class AlreadyUpError(BatonError):
    """Another ``baton up`` holds this folder."""


def lock_path(state_dir: Path = STATE_DIR) -> Path:
    return state_dir / "up.lock"


class UpLock:
    """The folder's lock, held from :meth:`acquire` to :meth:`release` (or the process's end)."""

    def __init__(self, state_dir: Path = STATE_DIR) -> None:
        self.path = lock_path(state_dir)
        self._file: IO[bytes] | None = None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`AlreadyUpError` naming the ``up`` that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+b")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            first = read_record(self.path)
            who = first.describe() if first else "its record is not written yet"
            raise AlreadyUpError(
                f"`baton up` is already running in this folder ({who}); stop it first "
                "(Ctrl-C in its terminal), or run this one from another folder"
            ) from None
        self._file = handle

    def record(self, redis_url: str, *, embedded: bool) -> UpRecord:
        """Write this process's record into the held lock file; other commands read it."""
        if self._file is None:
            raise RuntimeError("the lock is not held")
        entry = UpRecord(os.getpid(), time.time(), redis_url, embedded)
        self._file.seek(0)
        self._file.truncate()
        self._file.write(orjson.dumps(entry.__dict__))
        self._file.flush()
        return entry

    def release(self) -> None:
        if self._file is not None:
            self._file.seek(0)
            self._file.truncate()
            self._file.close()  # closing drops the flock
            self._file = None


def read_record(path: Path) -> UpRecord | None:
    try:
        data = orjson.loads(path.read_bytes())
        return UpRecord(**data)
    except (OSError, orjson.JSONDecodeError, TypeError):
        return None


def running_up(state_dir: Path = STATE_DIR) -> UpRecord | None:
    """The record of the ``up`` running in this folder, or ``None`` when none holds the lock."""
    path = lock_path(state_dir)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return read_record(path)  # held: an up is running
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None
