"""Sampling profiles of the worker processes with py-spy, and where their time goes.

``baton bench --profile`` attaches ``py-spy record`` (raw "collapsed stack" output) to each
Baton worker for the first throughput repetition. :func:`hottest` turns a collapsed file into the
functions with the largest share of samples, both *self* (the function itself was running) and
*inclusive* (it was on the stack).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


@dataclass(frozen=True)
class Hot:
    function: str
    share: float
    """Fraction of the process's samples (0-1)."""


def py_spy() -> str | None:
    found = shutil.which("py-spy")
    if found:
        return found
    beside = Path(__import__("sys").executable).with_name("py-spy")
    return str(beside) if beside.exists() else None


class Profiler:
    """py-spy processes attached to workers; :meth:`stop` makes them write their files."""

    def __init__(self, out_dir: Path, rate: int = 200) -> None:
        self.out_dir = out_dir
        self.rate = rate
        self.spies: list[tuple[str, subprocess.Popen[bytes]]] = []

    def attach(self, role: str, pid: int) -> Path | None:
        binary = py_spy()
        if binary is None:
            return None
        self.out_dir.mkdir(parents=True, exist_ok=True)
        out = self.out_dir / f"{role}-{pid}.collapsed"
        argv = [binary, "record", "--pid", str(pid), "--rate", str(self.rate), "--format", "raw",
                "--nonblocking", "--output", str(out)]  # fmt: skip
        spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.spies.append((role, spy))
        return out

    def stop(self, timeout_s: float = 30.0) -> None:
        for _, spy in self.spies:
            if spy.poll() is None:
                spy.send_signal(signal.SIGINT)
        for _, spy in self.spies:
            try:
                spy.wait(timeout_s)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait()


def _label(frame: str) -> str:
    """``func (path/to/module.py:12)`` -> ``module.py:func``."""
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"]
    marker = "site-packages/"
    short = path.split(marker, 1)[1] if marker in path else "/".join(path.split("/")[-2:])
    return f"{short}:{match['func']}"


def load(path: Path) -> tuple[Counter[str], Counter[str], int]:
    """(self samples, inclusive samples, total samples) per function of a collapsed file."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_label(f) for f in stack.split(";") if f and not f.startswith("process ")]
        frames = [f for f in frames if not f.startswith("thread ")]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    return own, inclusive, total


def hottest(path: Path, top: int = 15) -> dict[str, list[Hot]]:
    """The ``top`` functions by self share and by inclusive share."""
    own, inclusive, total = load(path)
    if not total:
        return {"self": [], "inclusive": []}
    return {
        "self": [Hot(name, n / total) for name, n in own.most_common(top)],
        "inclusive": [Hot(name, n / total) for name, n in inclusive.most_common(top)],
    }
