"""CommitProgram lays out arguments exactly as shared/lua/commit.lua documents them."""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

from shared.commit import CommitProgram, load_lua, outcome_ops
from shared.keys import Keys
from shared.outcome import Charge, Outcome, Publish, Step
from shared.runrecord import Op


@dataclass(frozen=True)
class DecodedEntry:
    input_key: str
    entry_id: str
    guard: tuple[str, int] | None
    ops: list[Op]
    duplicate_ops: list[Op]


def decode(keys: list[str], argv: list[bytes | str]) -> tuple[str, list[DecodedEntry]]:
    """Read a program the way commit.lua does (1-based key indexes, counted arguments)."""

    def text(value: bytes | str) -> str:
        return value.decode() if isinstance(value, bytes) else value

    group, i, entries = text(argv[0]), 1, []

    def read_ops(count: int) -> list[Op]:
        nonlocal i
        ops: list[Op] = []
        for _ in range(count):
            command, key_index, nargs = text(argv[i]), int(argv[i + 1]), int(argv[i + 2])
            i += 3
            ops.append((command, keys[key_index - 1], list(argv[i : i + nargs])))
            i += nargs
        return ops

    while i < len(argv):
        input_index, entry_id = int(argv[i]), text(argv[i + 1])
        guard_index, guard_ttl = int(argv[i + 2]), int(argv[i + 3])
        n_ops, n_dup = int(argv[i + 4]), int(argv[i + 5])
        i += 6
        guard = (keys[guard_index - 1], guard_ttl) if guard_index > 0 else None
        ops = read_ops(n_ops)
        entries.append(DecodedEntry(keys[input_index - 1], entry_id, guard, ops, read_ops(n_dup)))
    return group, entries


def test_one_entry_without_guard_has_the_documented_flat_layout() -> None:
    program = CommitProgram("triage")
    program.add("p:triage", "1-0", [("XADD", "p:handoffs", ["*", "event_id", "e-1"])])
    assert program.keys == ["p:triage", "p:handoffs"]
    assert program.args == [
        "triage",
        "1", "1-0", "0", "0", "1", "0",
        "XADD", "2", "3", "*", "event_id", "e-1",
    ]  # fmt: skip


def test_guard_and_duplicate_ops_follow_the_normal_ops() -> None:
    program = CommitProgram("intake")
    program.add(
        "p:intake",
        "5-1",
        [("XADD", "p:handoffs", ["*", "f", "v"]), ("HSET", "p:run:e", ["status", "x"])],
        guard=("p:seen:e", 3600),
        duplicate_ops=[("HINCRBY", "p:run:e", ["duplicates", "1"])],
    )
    assert program.keys == ["p:seen:e", "p:intake", "p:handoffs", "p:run:e"]
    assert program.args == [
        "intake",
        "2", "5-1", "1", "3600", "2", "1",
        "XADD", "3", "3", "*", "f", "v",
        "HSET", "4", "2", "status", "x",
        "HINCRBY", "4", "2", "duplicates", "1",
    ]  # fmt: skip


def test_keys_are_deduplicated_across_entries_and_ops() -> None:
    program = CommitProgram("validator")
    for entry_id in ("1-0", "2-0", "3-0"):
        program.add(
            "p:handoffs",
            entry_id,
            [("XADD", "p:triage", ["*", "a", "b"]), ("RPUSH", "p:run:e:steps", ["{}"]),
             ("PEXPIRE", "p:run:e:steps", ["1000"])],
        )  # fmt: skip
    assert program.keys == ["p:handoffs", "p:triage", "p:run:e:steps"]
    assert len(program.keys) == len(set(program.keys))
    group, entries = decode(program.keys, program.args)
    assert group == "validator"
    assert [e.entry_id for e in entries] == ["1-0", "2-0", "3-0"]
    assert {e.input_key for e in entries} == {"p:handoffs"}


def test_binary_arguments_are_kept_as_bytes() -> None:
    payload = b'{"text": "caf\xc3\xa9"}\x00'
    program = CommitProgram("g")
    program.add("s", "1-0", [("XADD", "out", ["*", b"envelope", payload])])
    assert program.args[-1] == payload
    assert decode(program.keys, program.args)[1][0].ops == [
        ("XADD", "out", ["*", b"envelope", payload])
    ]


def test_empty_op_lists_are_encoded_as_zero_counts() -> None:
    program = CommitProgram("g")
    program.add("s", "1-0", [])
    assert program.args == ["g", "1", "1-0", "0", "0", "0", "0"]


def test_a_batch_decodes_back_to_what_was_added() -> None:
    keys = Keys("p")
    outcomes = [
        Outcome(
            event_id=f"e-{n}",
            publishes=[
                Publish(keys.handoffs, {b"event_id": f"e-{n}".encode(), b"envelope": b"{}"})
            ],
            step=Step(stage="intake", outcome="ok", started_at=1.0, ended_at=2.0),
        )
        for n in range(3)
    ]
    program = CommitProgram("intake")
    expected: list[DecodedEntry] = []
    for n, outcome in enumerate(outcomes):
        ops = outcome_ops(keys, outcome, retention_s=60)
        guard = (keys.seen(outcome.event_id), 120) if n != 1 else None
        dup: list[Op] = [("HINCRBY", keys.run(outcome.event_id), ["duplicates", "1"])]
        program.add(keys.intake, f"{n}-0", ops, guard=guard, duplicate_ops=dup if guard else None)
        expected.append(DecodedEntry(keys.intake, f"{n}-0", guard, ops, dup if guard else []))
    assert decode(program.keys, program.args) == ("intake", expected)
    assert len(program.keys) == len(set(program.keys))


def test_outcome_ops_publish_first_then_settle_charges_then_record_the_run() -> None:
    keys = Keys("p")
    outcome = Outcome(
        event_id="e-1",
        publishes=[Publish("p:handoffs", {b"event_id": b"e-1", b"envelope": b"{}"})],
        step=Step(stage="triage", outcome="ok", started_at=1.0, ended_at=2.0),
        reason="because",
        created_at=0.5,
        charges=(Charge("triage:0:0", 420, 1300),),
    )
    ops = outcome_ops(keys, outcome, retention_s=60)
    assert ops[0] == ("XADD", "p:handoffs", ["*", b"event_id", b"e-1", b"envelope", b"{}"])
    assert ops[1] == ("SETTLE", "p:budget:e-1", ["triage:0:0", "420", "1300", "60"])
    command, key, args = ops[2]
    assert (command, key) == ("RUN", "p:run:e-1")
    steps_key, ttl_ms, created_at, step, *fields = args
    assert (steps_key, ttl_ms, created_at) == ("p:run:e-1:steps", "60000", "0.5")
    assert orjson.loads(step)["stage"] == "triage"
    assert dict(zip(fields[::2], fields[1::2], strict=True))["reason"] == "because"
    script = load_lua("commit.lua")
    allowed = set(re.findall(r"(\w+) = true", script)) | {"RUN", "SETTLE"}
    assert {command for command, _, _ in ops} <= allowed
    assert "command == 'RUN'" in script
    assert "command == 'SETTLE'" in script
    assert "HINCRBY" in allowed  # the duplicate op
