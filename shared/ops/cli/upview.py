"""What ``baton up`` shows: on a terminal a live summary (Redis, workers, events/s, outcomes,
lag) redrawn in place, with worker deaths and restarts printed above it; off a terminal (a log
file, CI) plain timestamped lines, and the summary as one line now and then."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from shared.ops.cli.supervisor import Worker, WorkerEvent, WorkerStatus
from shared.runtime.streamstats import StreamState

OUTCOME_STREAMS = ("responses", "escalations", "dlq")


@dataclass
class Snapshot:
    """What the summary shows, as of the last look at Redis and the workers."""

    redis_url: str
    workers: list[Worker]
    reachable: bool | None = None
    problem: str = ""
    streams: list[StreamState] = field(default_factory=list)

    def by_name(self, name: str) -> StreamState | None:
        return next((s for s in self.streams if s.name == name), None)

    @property
    def events_in(self) -> float:
        intake = self.by_name("intake")
        return intake.per_second if intake else 0.0

    @property
    def events_out(self) -> float:
        return sum(s.per_second for s in self.streams if s.name in OUTCOME_STREAMS)

    @property
    def running(self) -> int:
        return sum(w.status is WorkerStatus.RUNNING for w in self.workers)

    @property
    def lag(self) -> int:
        return sum(s.lag or 0 for s in self.streams if s.name not in OUTCOME_STREAMS)

    def outcomes(self) -> str:
        counts = {s.name: s.length for s in self.streams if s.name in OUTCOME_STREAMS}
        return " · ".join(f"{name} {counts.get(name, 0)}" for name in OUTCOME_STREAMS)

    def redis_line(self) -> str:
        if self.reachable is None:
            return f"Redis {self.redis_url}: checking"
        if self.reachable:
            return f"Redis {self.redis_url}: reachable"
        return f"Redis {self.redis_url}: UNREACHABLE ({self.problem})"


def event_line(event: WorkerEvent) -> str:
    """``triage-0 (pid 41) died: killed by SIGKILL; restarting in 0.5 s``."""
    pid = f" (pid {event.pid})" if event.pid else ""
    reason = f": {event.reason}" if event.reason else ""
    return f"{event.slot.name}{pid} {event.what}{reason}"


def summary_line(snap: Snapshot) -> str:
    """The summary as one line, for logs."""
    return (
        f"{snap.redis_line()} | workers {snap.running}/{len(snap.workers)} running | "
        f"in {snap.events_in:.1f}/s, out {snap.events_out:.1f}/s | {snap.outcomes()} | "
        f"lag {snap.lag}"
    )


def frame(snap: Snapshot, log_dir: str) -> RenderableType:
    """The live summary, drawn in place on a terminal."""
    style = "green" if snap.reachable else "yellow" if snap.reachable is None else "bold red"
    head = Text(snap.redis_line(), style=style)
    workers = Table(box=None, pad_edge=False, show_edge=False, expand=False)
    for column in ("worker", "pid", "state", "restarts", "last exit", "metrics"):
        workers.add_column(column, overflow="fold")
    for worker in snap.workers:
        state = worker.status.value
        colour = "green" if worker.status is WorkerStatus.RUNNING else "yellow"
        port = worker.slot.metrics_port
        workers.add_row(
            worker.slot.name,
            str(worker.pid or "-"),
            Text(state, style=colour),
            str(worker.restarts),
            worker.last_exit or "-",
            f":{port}" if port else "-",
        )
    streams = Table(box=None, pad_edge=False, show_edge=False, expand=False)
    for column in ("stream", "length", "lag", "pending", "events/s"):
        streams.add_column(column, justify="left" if column == "stream" else "right")
    for stream in snap.streams:
        pending = sum(g.pending for g in stream.groups)
        lag = "-" if not stream.groups else "?" if stream.lag is None else str(stream.lag)
        rate = f"{stream.per_second:.1f}"
        streams.add_row(stream.name, str(stream.length), lag, str(pending), rate)
    totals = Text(
        f"events/s in {snap.events_in:.1f}, out {snap.events_out:.1f} · "
        f"outcomes: {snap.outcomes()} · lag {snap.lag}"
    )
    foot = Text(f"logs in {log_dir}/ · Ctrl-C to stop", style="dim")
    return Group(head, Text(""), workers, Text(""), streams, Text(""), totals, foot)


class PlainView:
    """Timestamped lines, for output that is not a terminal."""

    def __init__(self, console: Console, summary_every_s: float = 30.0) -> None:
        self.console = console
        self.summary_every_s = summary_every_s
        self._last_summary = 0.0

    def say(self, line: str) -> None:
        self.console.print(f"{time.strftime('%H:%M:%S')} {line}", highlight=False, soft_wrap=True)

    def update(self, snap: Snapshot, *, force: bool = False) -> None:
        """The summary line, every ``summary_every_s`` once Redis was looked at (or now)."""
        now = time.monotonic()
        due = snap.reachable is not None and now - self._last_summary >= self.summary_every_s
        if force or due:
            self._last_summary = now
            self.say(summary_line(snap))
