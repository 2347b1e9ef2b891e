"""CommitProgram lays out arguments exactly as shared/runtime/lua/commit.lua documents them."""

from __future__ import annotations

import re
from dataclasses import dataclass

import msgpack
import orjson
import pytest

from shared.agents.guardrails import LedgerStamp
from shared.pipeline.keys import Keys
from shared.runtime.commit import CommitProgram, load_lua, outcome_ops
from shared.runtime.outcome import Charge, Outcome, Publish, Step
from shared.runtime.runrecord import Op


@dataclass(frozen=True)
class DecodedEntry:
    input_key: str
    entry_id: str
    guard: tuple[str, int] | None
    ops: list[Op]
    duplicate_ops: list[Op]


def decode(keys: list[str], argv: list[bytes | str]) -> tuple[str, list[DecodedEntry]]:
    """Read a program the way commit.lua does (1-based key indexes, one flat MessagePack array:
    per entry a six-slot header, then its ops and duplicate ops as ``command, key, count, args``).
    """
    group, packed = argv
    assert isinstance(group, str)
    assert isinstance(packed, bytes)
    program = msgpack.unpackb(packed, raw=True)

    def ops(at: int, stop: int) -> list[Op]:
        found: list[Op] = []
        while at < stop:
            command, index, count = program[at : at + 3]
            found.append((command.decode(), keys[index - 1], program[at + 3 : at + 3 + count]))
            at += 3 + count
        assert at == stop
        return found

    entries, at = [], 0
    while at < len(program):
        input_index, entry_id, guard_index, guard_ttl, ops_length, duplicate_length = program[
            at : at + 6
        ]
        guard = (keys[guard_index - 1], int(guard_ttl)) if guard_index > 0 else None
        normal, duplicate = at + 6, at + 6 + ops_length
        at = duplicate + duplicate_length
        entries.append(
            DecodedEntry(
                keys[input_index - 1],
                entry_id.decode(),
                guard,
                ops(normal, duplicate),
                ops(duplicate, at),
            )
        )
    return group, entries


def as_bytes(ops: list[Op]) -> list[Op]:
    """What a decoded program holds: MessagePack raw strings come back as bytes."""
    return [(c, k, [a.encode() if isinstance(a, str) else a for a in args]) for c, k, args in ops]


def test_one_entry_without_guard_decodes_to_what_was_added() -> None:
    program = CommitProgram("triage")
    ops: list[Op] = [("XADD", "p:handoffs", ["*", "event_id", "e-1"])]
    program.add("p:triage", "1-0", ops)
    assert program.keys == ["p:triage", "p:handoffs"]
    assert decode(program.keys, program.args) == (
        "triage", [DecodedEntry("p:triage", "1-0", None, as_bytes(ops), [])]
    )  # fmt: skip


def test_guard_and_duplicate_ops_are_kept_apart() -> None:
    program = CommitProgram("intake")
    ops: list[Op] = [("XADD", "p:handoffs", ["*", "f", "v"]), ("HSET", "p:run:e", ["status", "x"])]
    duplicate: list[Op] = [("HINCRBY", "p:run:e", ["duplicates", "1"])]
    program.add("p:intake", "5-1", ops, guard=("p:seen:e", 3600), duplicate_ops=duplicate)
    assert program.keys == ["p:seen:e", "p:intake", "p:handoffs", "p:run:e"]
    (entry,) = decode(program.keys, program.args)[1]
    assert entry.guard == ("p:seen:e", 3600)
    assert entry.ops == as_bytes(ops)
    assert entry.duplicate_ops == as_bytes(duplicate)


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
    group, entries = decode(program.keys, program.args)
    assert group == "validator"
    assert [e.entry_id for e in entries] == ["1-0", "2-0", "3-0"]
    assert {e.input_key for e in entries} == {"p:handoffs"}


def test_binary_arguments_survive_the_packing_unchanged() -> None:
    payload = b'{"text": "caf\xc3\xa9"}\x00\xff'
    program = CommitProgram("g")
    program.add("s", "1-0", [("XADD", "out", ["*", b"envelope", payload])])
    assert decode(program.keys, program.args)[1][0].ops == [
        ("XADD", "out", [b"*", b"envelope", payload])
    ]


def test_an_entry_without_ops_has_empty_op_lists() -> None:
    program = CommitProgram("g")
    program.add("s", "1-0", [])
    assert decode(program.keys, program.args) == ("g", [DecodedEntry("s", "1-0", None, [], [])])


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
        program.add(
            keys.stream("intake"), f"{n}-0", ops, guard=guard, duplicate_ops=dup if guard else None
        )
        expected.append(
            DecodedEntry(
                keys.stream("intake"),
                f"{n}-0",
                guard,
                as_bytes(ops),
                as_bytes(dup) if guard else [],
            )
        )
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


def test_a_publish_naming_a_ledger_becomes_an_xadd_stamped_with_its_totals() -> None:
    publish = Publish("p:triage", {b"event_id": b"e-1"}, ledger="p:budget:e-1")
    outcome = Outcome("e-1", [publish], Step(stage="validator", outcome="ok", started_at=1.0,
                                             ended_at=2.0))  # fmt: skip
    assert outcome_ops(Keys("p"), outcome, retention_s=60)[0] == (
        "XADD_SPENT", "p:triage", ["p:budget:e-1", "*", b"event_id", b"e-1"]
    )  # fmt: skip
    assert "command == 'XADD_SPENT'" in load_lua("commit.lua")


@pytest.mark.parametrize(
    ("raw", "count", "stamp"),
    [(b"120:3400", 1, LedgerStamp(120, 3400)), (b"0:0", 1, LedgerStamp(0, 0)),
     (b"120:3400", 2, None), (b"120", 1, None), (b"x:1", 1, None), (None, 1, None)],
)  # fmt: skip
def test_only_a_first_delivery_with_a_well_formed_stamp_skips_the_reservation(
    raw: bytes | None, count: int, stamp: LedgerStamp | None
) -> None:
    fields = {b"envelope": b"{}"} if raw is None else {b"envelope": b"{}", b"spent": raw}
    assert LedgerStamp.of(fields, count) == stamp
    assert LedgerStamp.of(None, 1) is None


def test_the_run_record_is_stamped_with_the_given_update_time() -> None:
    keys = Keys("p")
    outcome = Outcome(
        event_id="e-1",
        publishes=[],
        step=Step(stage="validator", outcome="ok", started_at=1.0, ended_at=2.0),
    )
    ((command, key, args),) = outcome_ops(keys, outcome, retention_s=60, updated_at="12.5")
    assert (command, key) == ("RUN", "p:run:e-1")
    assert args[4:] == ["event_id", "e-1", "status", "in_progress", "stage", "validator",
                        "updated_at", "12.5"]  # fmt: skip
    assert args[:3] == ["p:run:e-1:steps", "60000", "1.0"]
