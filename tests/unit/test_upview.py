"""What baton up shows: the live frame, its one-line form, and how a worker's death reads."""

from __future__ import annotations

import signal
from pathlib import Path

from rich.console import Console

from shared.ops.cli.supervisor import (
    RestartPolicy,
    Slot,
    Worker,
    WorkerEvent,
    WorkerStatus,
    exit_reason,
    slots_for,
)
from shared.ops.cli.upview import Snapshot, event_line, frame, summary_line
from shared.runtime.streamstats import ConsumerState, GroupState, StreamState


def snapshot() -> Snapshot:
    running = Worker(Slot("triage", 0, 9101), Path("triage-0.log"), status=WorkerStatus.RUNNING)
    dead = Worker(
        Slot("responder", 0, 9102),
        Path("responder-0.log"),
        status=WorkerStatus.RESTARTING,
        restarts=2,
        last_exit="killed by SIGKILL",
    )
    group = GroupState("triage", lag=3, pending=1, oldest_pending_idle_ms=20,
                       consumers=[ConsumerState("c", 1, 5, True)])  # fmt: skip
    streams = [
        StreamState("intake", "p:intake", 12, recent=20),
        StreamState("triage", "p:triage", 9, groups=[group], recent=10),
        StreamState("responses", "p:responses", 7, recent=5),
        StreamState("dlq", "p:dlq", 1, recent=1),
    ]
    return Snapshot("redis://127.0.0.1:6390/0", [running, dead], True, "", streams)


def test_the_frame_shows_redis_workers_rates_outcomes_and_lag() -> None:
    console = Console(record=True, width=100, color_system=None)
    console.print(frame(snapshot(), ".baton/logs"))
    text = console.export_text()
    assert "Redis redis://127.0.0.1:6390/0: reachable" in text
    assert "responder-0" in text
    assert "restarting" in text
    assert "killed by SIGKILL" in text
    assert ":9101" in text
    assert "events/s in 2.0, out 0.6" in text
    assert "outcomes: responses 7 · escalations 0 · dlq 1 · lag 3" in text


def test_off_a_terminal_the_summary_is_one_line() -> None:
    line = summary_line(snapshot())
    assert line == (
        "Redis redis://127.0.0.1:6390/0: reachable | workers 1/2 running | in 2.0/s, out 0.6/s"
        " | responses 7 · escalations 0 · dlq 1 | lag 3"
    )


def test_a_death_names_the_worker_its_pid_and_the_signal_or_code() -> None:
    assert exit_reason(-signal.SIGKILL) == "killed by SIGKILL"
    assert exit_reason(3) == "exited with code 3"
    event = WorkerEvent(Slot("triage", 1), "died", "killed by SIGKILL; restarting in 1 s", 41)
    assert event_line(event) == "triage-1 (pid 41) died: killed by SIGKILL; restarting in 1 s"


def test_restarts_back_off_doubling_up_to_a_ceiling() -> None:
    policy = RestartPolicy(first_delay_s=0.5, max_delay_s=4)
    assert [policy.delay(n) for n in range(1, 7)] == [0.5, 1, 2, 4, 4, 4]


def test_each_replica_gets_the_next_metrics_port() -> None:
    slots = slots_for(("intake", "triage"), 2, 9100)
    assert [(s.name, s.metrics_port) for s in slots] == [
        ("intake-0", 9100), ("intake-1", 9101), ("triage-0", 9102), ("triage-1", 9103),
    ]  # fmt: skip
    assert {s.metrics_port for s in slots_for(("intake",), 3, None)} == {None}
