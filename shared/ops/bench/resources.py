"""CPU time and peak memory of processes, read from /proc (Linux).

CPU is user + system time of the process (all its threads), in seconds; peak memory is ``VmHWM``,
the high-water mark of the resident set since the process started.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid``; 0.0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            stat = handle.read()
    except OSError:
        return 0.0
    # Fields after the command name (which may contain spaces) start after the last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _TICKS


def peak_rss_mib(pid: int) -> float:
    """``VmHWM`` of ``pid`` in MiB; NaN if it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds per pid at one moment."""

    seconds: dict[int, float]

    @classmethod
    def take(cls, pids: list[int]) -> CpuSnapshot:
        return cls({pid: cpu_seconds(pid) for pid in pids})


def cpu_us_per_event(
    before: CpuSnapshot, after: CpuSnapshot, groups: Mapping[str, list[int]], events: int
) -> dict[str, float]:
    """CPU microseconds per event of each named group of pids between two snapshots."""
    out: dict[str, float] = {}
    for name, pids in groups.items():
        used = sum(after.seconds.get(p, 0.0) - before.seconds.get(p, 0.0) for p in pids)
        out[name] = round(used * 1e6 / events, 1) if events else float("nan")
    return out


def command_census(
    before: Mapping[str, Mapping[str, float]],
    after: Mapping[str, Mapping[str, float]],
    events: int,
) -> dict[str, dict[str, float]]:
    """Redis calls and server microseconds per event, by command, between two readings of
    ``INFO commandstats`` (as redis-py parses it: ``cmdstat_<name>`` -> ``calls``, ``usec``).

    Commands that scripts run count under their own names, so a script's share shows as the
    commands it calls plus its own ``evalsha`` overhead.
    """
    census: dict[str, dict[str, float]] = {}
    for key, now in after.items():
        then = before.get(key, {})
        calls = now.get("calls", 0) - then.get("calls", 0)
        if calls <= 0 or not events:
            continue
        usec = now.get("usec", 0) - then.get("usec", 0)
        name = key.removeprefix("cmdstat_")
        census[name] = {"calls": round(calls / events, 2), "usec": round(usec / events, 2)}
    return dict(sorted(census.items(), key=lambda item: -item[1]["usec"]))
