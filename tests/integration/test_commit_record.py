"""What a fenced commit stores: run-record hash and steps, their TTLs, ledger, outputs, markers.

Pins the data readers rely on (``load_run``, ``baton runs show``, the eval), byte for byte, and
the retention rule: a record's TTL counts from its creation, later steps do not extend it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import cast

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared.pipeline.keys import Keys
from shared.runtime.commit import CommitProgram, CommitSettings, CommitStatus, Committer, load_lua
from shared.runtime.delivery import as_text
from shared.runtime.outcome import Charge, Outcome, Publish, RunStatus, Step
from shared.runtime.runrecord import load_run, note_failure

GROUP = "triage"
RETENTION_S = 5000
DEDUPE_TTL_S = 700

Entries = list[tuple[bytes, dict[bytes, bytes]]]


@dataclass
class Rig:
    redis: Redis
    keys: Keys
    committer: Committer

    async def pending(self) -> str:
        """A new entry on the input stream, delivered to (pending for) consumer c-1."""
        entry_id = as_text(await self.redis.xadd(self.keys.stream("triage"), {"x": "1"}))
        await self.redis.xreadgroup(GROUP, "c-1", {self.keys.stream("triage"): ">"})
        return entry_id

    async def commit(self, outcome: Outcome, entry_id: str | None = None) -> CommitStatus:
        return await self.committer.commit(entry_id or await self.pending(), outcome)

    async def hash(self, key: str) -> list[tuple[str, str]]:
        """A hash's fields in stored order (HGETALL order is what readers see)."""
        fields = cast(dict[bytes, bytes], await self.redis.hgetall(key))
        return [(k.decode(), v.decode()) for k, v in fields.items()]

    async def steps(self, event_id: str) -> list[bytes]:
        return cast(list[bytes], await self.redis.lrange(self.keys.run_steps(event_id), 0, -1))

    async def ttl_s(self, key: str) -> float:
        return float(await self.redis.pttl(key)) / 1000


@pytest.fixture
async def rig(redis: Redis, prefix: str) -> AsyncIterator[Rig]:
    keys = Keys(prefix)
    await redis.xgroup_create(keys.stream("triage"), GROUP, id="0", mkstream=True)
    committer = Committer(
        redis, keys, keys.stream("triage"), CommitSettings(GROUP, RETENTION_S, DEDUPE_TTL_S)
    )
    task = asyncio.create_task(committer.run())
    yield Rig(redis, keys, committer)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def step(stage: str = "validator", **changes: object) -> Step:
    fields: dict[str, object] = {
        "stage": stage, "outcome": "ok", "started_at": 100.25, "ended_at": 100.5,
        "consumer": "c-1", **changes,
    }  # fmt: skip
    return Step(**fields)  # type: ignore[arg-type]


def outcome(
    rig: Rig,
    event_id: str,
    the_step: Step,
    *,
    status: RunStatus = "in_progress",
    reason: str | None = None,
    created_at: float | None = 99.125,
    charges: tuple[Charge, ...] = (),
    dedupe: bool = False,
) -> Outcome:
    publish = Publish(rig.keys.handoffs, {b"event_id": event_id.encode(), b"envelope": b"{}"})
    return Outcome(
        event_id,
        [publish],
        the_step,
        status=status,
        reason=reason,
        dedupe_key=rig.keys.seen(event_id) if dedupe else None,
        created_at=created_at,
        charges=charges,
    )


def updated_at(fields: list[tuple[str, str]], before: float) -> list[tuple[str, str]]:
    """``fields`` with updated_at checked (a float repr, stamped during the test) and masked."""
    masked = []
    for name, value in fields:
        if name == "updated_at":
            assert before <= float(value) <= time.time()
            assert value == repr(float(value))
            value = "*"
        masked.append((name, value))
    return masked


async def test_a_run_record_holds_exactly_its_steps_and_keeps_the_ttl_of_its_creation(
    rig: Rig,
) -> None:
    before = time.time()
    decision = {"category": "billing", "confidence": 0.9, "needs_human": False}
    first = step(entry_id="1-0", decision={"verdict": "accepted"})
    agent = step("triage", llm_calls=1, tokens_in=400, tokens_out=100, cost_usd=0.00125,
                 attempt=1, decision=decision)  # fmt: skip
    last = step(outcome="escalated", reason="low_confidence", detail="conf 0.2")
    assert await rig.commit(outcome(rig, "ev-a", first)) is CommitStatus.COMMITTED
    run_key = rig.keys.run("ev-a")
    await rig.redis.pexpire(run_key, 60_000)  # were a later step to reset the TTL, it would show
    await rig.redis.pexpire(rig.keys.run_steps("ev-a"), 60_000)
    await rig.commit(outcome(rig, "ev-a", agent, created_at=1.0))
    await rig.commit(
        outcome(rig, "ev-a", last, status="escalated", reason="low_confidence", created_at=2.0)
    )

    assert updated_at(await rig.hash(run_key), before) == [
        ("event_id", "ev-a"), ("status", "escalated"), ("stage", "validator"),
        ("updated_at", "*"), ("created_at", "99.125"), ("reason", "low_confidence"),
    ]  # fmt: skip
    assert await rig.steps("ev-a") == [
        b'{"stage":"validator","outcome":"ok","started_at":100.25,"ended_at":100.5,'
        b'"consumer":"c-1","entry_id":"1-0","delivery":1,"attempt":0,"tokens_in":0,'
        b'"tokens_out":0,"cost_usd":0.0,"decision":{"verdict":"accepted"},"duration_ms":250.0}',
        b'{"stage":"triage","outcome":"ok","started_at":100.25,"ended_at":100.5,'
        b'"consumer":"c-1","delivery":1,"attempt":1,"llm_calls":1,"tokens_in":400,'
        b'"tokens_out":100,"cost_usd":0.00125,"decision":{"category":"billing",'
        b'"confidence":0.9,"needs_human":false},"duration_ms":250.0}',
        b'{"stage":"validator","outcome":"escalated","started_at":100.25,"ended_at":100.5,'
        b'"consumer":"c-1","delivery":1,"attempt":0,"tokens_in":0,"tokens_out":0,'
        b'"cost_usd":0.0,"reason":"low_confidence","detail":"conf 0.2","duration_ms":250.0}',
    ]
    assert 0 < await rig.ttl_s(run_key) <= 60
    assert 0 < await rig.ttl_s(rig.keys.run_steps("ev-a")) <= 60
    record = await load_run(rig.redis, rig.keys, "ev-a")
    assert record is not None
    assert (record["status"], record["created_at"]) == ("escalated", 99.125)
    assert [s["stage"] for s in record["steps"]] == ["validator", "triage", "validator"]


async def test_a_new_record_expires_after_the_retention_period(rig: Rig) -> None:
    await rig.commit(outcome(rig, "ev-new", step(), created_at=None))
    for key in (rig.keys.run("ev-new"), rig.keys.run_steps("ev-new")):
        assert RETENTION_S - 5 < await rig.ttl_s(key) <= RETENTION_S
    fields = dict(await rig.hash(rig.keys.run("ev-new")))
    assert fields["created_at"] == "100.25"  # no created_at given: the step's start


async def test_a_record_begun_by_a_failure_note_gets_its_creation_time_and_retention(
    rig: Rig,
) -> None:
    before = time.time()
    await note_failure(rig.redis, rig.keys, "ev-d", "boom", 40)
    await rig.commit(outcome(rig, "ev-d", step(), status="dead_lettered", reason="poison"))
    assert updated_at(await rig.hash(rig.keys.run("ev-d")), before) == [
        ("last_error", "boom"), ("event_id", "ev-d"), ("status", "dead_lettered"),
        ("stage", "validator"), ("updated_at", "*"), ("reason", "poison"),
        ("created_at", "99.125"),
    ]  # fmt: skip
    assert RETENTION_S - 5 < await rig.ttl_s(rig.keys.run("ev-d")) <= RETENTION_S


async def test_a_reason_first_set_on_a_later_step_leaves_creation_and_ttl_alone(
    rig: Rig,
) -> None:
    await rig.commit(outcome(rig, "ev-r", step()))
    await rig.redis.pexpire(rig.keys.run("ev-r"), 60_000)
    await rig.commit(outcome(rig, "ev-r", step(), status="escalated", reason="r1", created_at=5))
    fields = dict(await rig.hash(rig.keys.run("ev-r")))
    assert (fields["created_at"], fields["reason"]) == ("99.125", "r1")
    assert 0 < await rig.ttl_s(rig.keys.run("ev-r")) <= 60


async def test_a_recreated_steps_list_gets_the_retention_ttl_and_the_hash_keeps_its_own(
    rig: Rig,
) -> None:
    await rig.commit(outcome(rig, "ev-e", step()))
    await rig.redis.delete(rig.keys.run_steps("ev-e"))
    await rig.redis.pexpire(rig.keys.run("ev-e"), 60_000)
    await rig.commit(outcome(rig, "ev-e", step(attempt=2), created_at=8.0))
    assert len(await rig.steps("ev-e")) == 1
    assert RETENTION_S - 5 < await rig.ttl_s(rig.keys.run_steps("ev-e")) <= RETENTION_S
    assert 0 < await rig.ttl_s(rig.keys.run("ev-e")) <= 60
    assert dict(await rig.hash(rig.keys.run("ev-e")))["created_at"] == "99.125"


async def test_charges_settle_in_the_ledger_once(rig: Rig) -> None:
    ledger = rig.keys.budget("ev-c")
    await rig.redis.hset(ledger, mapping={
        "reserved_tokens": 600, "reserved_micro_usd": 900, "res:t:0": "600:900",
    })  # fmt: skip
    charges = (Charge("t:0", 508, 321), Charge("t:1", 7, 8))
    await rig.commit(outcome(rig, "ev-c", step("triage", llm_calls=2), charges=charges))
    await rig.commit(outcome(rig, "ev-c", step("triage", llm_calls=2), charges=charges))
    assert await rig.hash(ledger) == [
        ("reserved_tokens", "0"), ("reserved_micro_usd", "0"), ("tokens", "515"),
        ("micro_usd", "329"), ("done:t:0", "1"), ("done:t:1", "1"),
    ]  # fmt: skip
    assert RETENTION_S - 5 < await rig.ttl_s(ledger) <= RETENTION_S


async def test_a_stamped_publish_carries_the_ledger_totals_settled_and_held(rig: Rig) -> None:
    ledger = rig.keys.budget("ev-s")
    await rig.redis.hset(ledger, mapping={
        "tokens": 500, "micro_usd": 700, "reserved_tokens": 60, "reserved_micro_usd": 9,
    })  # fmt: skip
    stamped = Publish(rig.keys.stream("intake"), {b"event_id": b"ev-s"}, ledger=ledger)
    fresh = Publish(
        rig.keys.stream("responder"), {b"event_id": b"ev-new"}, ledger=rig.keys.budget("ev-n")
    )
    the_step = step()
    for publish in (stamped, fresh):
        await rig.commit(Outcome(publish.fields[b"event_id"].decode(), [publish], the_step))
    ((_, intake),) = cast(Entries, await rig.redis.xrange(rig.keys.stream("intake")))
    ((_, responder),) = cast(Entries, await rig.redis.xrange(rig.keys.stream("responder")))
    assert intake == {b"event_id": b"ev-s", b"spent": b"560:709"}
    assert responder == {b"event_id": b"ev-new", b"spent": b"0:0"}  # no ledger yet
    assert not await rig.redis.exists(rig.keys.budget("ev-n"))


async def test_a_stale_entry_writes_nothing(rig: Rig) -> None:
    entry_id = await rig.pending()
    await rig.redis.xack(rig.keys.stream("triage"), GROUP, entry_id)
    stale = outcome(rig, "ev-s", step(), charges=(Charge("s:0", 1, 1),), dedupe=True)
    assert await rig.commit(stale, entry_id) is CommitStatus.STALE
    assert await rig.redis.exists(
        rig.keys.run("ev-s"), rig.keys.run_steps("ev-s"), rig.keys.budget("ev-s"),
        rig.keys.seen("ev-s"), rig.keys.handoffs,
    ) == 0  # fmt: skip


async def test_a_duplicate_is_acknowledged_and_counted_without_output_or_step(rig: Rig) -> None:
    first = await rig.pending()
    assert await rig.commit(outcome(rig, "ev-u", step(), dedupe=True), first) is (
        CommitStatus.COMMITTED
    )
    again = outcome(rig, "ev-u", step(delivery=2), dedupe=True)
    assert await rig.commit(again) is CommitStatus.DUPLICATE
    assert await rig.redis.get(rig.keys.seen("ev-u")) == first.encode()
    assert DEDUPE_TTL_S - 5 < await rig.ttl_s(rig.keys.seen("ev-u")) <= DEDUPE_TTL_S
    assert await rig.redis.xlen(rig.keys.handoffs) == 1
    assert len(await rig.steps("ev-u")) == 1
    assert dict(await rig.hash(rig.keys.run("ev-u")))["duplicates"] == "1"
    assert (await rig.redis.xpending(rig.keys.stream("triage"), GROUP))["pending"] == 0


async def test_entries_committed_together_keep_their_order(rig: Rig) -> None:
    entry_ids = [await rig.pending() for _ in range(5)]
    outcomes = [
        Outcome(
            "ev-b",
            [Publish(rig.keys.handoffs, {b"n": str(n).encode(), b"": b""})],
            step(attempt=n),
            status="responded" if n == 4 else "in_progress",
            created_at=3.0 + n,
        )
        for n in range(5)
    ]
    statuses = await asyncio.gather(
        *(rig.committer.commit(e, o) for e, o in zip(entry_ids, outcomes, strict=True))
    )
    assert statuses == [CommitStatus.COMMITTED] * 5
    record = await load_run(rig.redis, rig.keys, "ev-b")
    assert record is not None
    assert [s["attempt"] for s in record["steps"]] == [0, 1, 2, 3, 4]
    assert (record["status"], record["created_at"]) == ("responded", 3.0)
    published = cast(Entries, await rig.redis.xrange(rig.keys.handoffs))
    assert [fields for _, fields in published] == [
        {b"n": str(n).encode(), b"": b""} for n in range(5)
    ]


async def test_a_command_outside_the_allowed_set_fails_the_script(rig: Rig) -> None:
    program = CommitProgram(GROUP)
    program.add(rig.keys.stream("triage"), await rig.pending(), [("DEL", rig.keys.handoffs, [])])
    script = rig.redis.register_script(load_lua("commit.lua"))
    with pytest.raises(ResponseError, match="command not allowed: DEL"):
        await script(keys=program.keys, args=program.args)
