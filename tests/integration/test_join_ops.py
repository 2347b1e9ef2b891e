"""The join's decisions, made by the fenced commit on a real Redis (shared/runtime/lua/join.lua).

A join opens with its branches in one commit; each branch settles once (a redelivered, zombie or
replayed branch counts once); the join closes exactly once, publishing one join-ready entry; a
branch after closing is recorded as late and publishes nothing; a failed branch or a passed
deadline closes it partial.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import cast

import pytest
from redis.asyncio import Redis

from shared.pipeline.keys import Keys
from shared.runtime.commit import CommitSettings, CommitStatus, Committer
from shared.runtime.delivery import as_text
from shared.runtime.join import (
    JoinState,
    JoinSweeper,
    arrive_op,
    fail_op,
    load_join,
    open_op,
    ready_join,
)
from shared.runtime.outcome import Op, Outcome, Publish, Step

Entries = list[tuple[bytes, dict[bytes, bytes]]]
GROUP = "validator"
JOIN = "ev-1:panel:3"


@dataclass
class Rig:
    redis: Redis
    keys: Keys
    committer: Committer

    async def commit(self, *ops: Op, publishes: tuple[Publish, ...] = ()) -> CommitStatus:
        """Commit ``ops`` with the acknowledgement of a fresh pending entry of ``handoffs``."""
        entry_id = await self.pending()
        return await self.committer.commit(entry_id, outcome(ops, publishes))

    async def pending(self) -> str:
        entry_id = as_text(await self.redis.xadd(self.keys.stream("inbox"), {"x": "1"}))
        await self.redis.xreadgroup(GROUP, "c-1", {self.keys.stream("inbox"): ">"})
        return entry_id

    async def open(self, expected: int, deadline: float = 4e9) -> CommitStatus:
        op = open_op(self.keys, JOIN, "ev-1", expected, deadline, b'{"e":1}', "tp-1", 600,
                     self.keys.handoffs)  # fmt: skip
        return await self.commit(op)

    async def join(self) -> JoinState:
        state = await load_join(self.redis, self.keys, JOIN)
        assert state is not None
        return state

    async def ready_entries(self) -> list[dict[bytes, bytes]]:
        entries = cast(Entries, await self.redis.xrange(self.keys.handoffs))
        return [fields for _, fields in entries if ready_join(fields) is not None]


def outcome(ops: tuple[Op, ...], publishes: tuple[Publish, ...] = ()) -> Outcome:
    step = Step(stage="validator", outcome="ok", started_at=1.0, ended_at=2.0, branch="x|0")
    return Outcome(event_id="ev-1", publishes=list(publishes), step=step, ops=ops)


@pytest.fixture
async def rig(redis: Redis, prefix: str) -> AsyncIterator[Rig]:
    keys = Keys(prefix)
    await redis.xgroup_create(keys.stream("inbox"), GROUP, id="0", mkstream=True)
    committer = Committer(redis, keys, keys.stream("inbox"), CommitSettings(GROUP, 600, 600))
    task = asyncio.create_task(committer.run())
    yield Rig(redis, keys, committer)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_the_last_branch_in_closes_the_join_once_with_results_in_branch_order(
    rig: Rig,
) -> None:
    await rig.open(3)
    assert await rig.redis.zscore(rig.keys.joins, JOIN) is not None
    await rig.commit(arrive_op(rig.keys, JOIN, 2, b'{"n":2}'))
    await rig.commit(arrive_op(rig.keys, JOIN, 0, b'{"n":0}'))
    assert (await rig.join()).status == "open"
    assert await rig.ready_entries() == []
    await rig.commit(arrive_op(rig.keys, JOIN, 1, b'{"n":1}'))
    state = await rig.join()
    assert state.status == "done"
    assert state.outputs == ({"n": 0}, {"n": 1}, {"n": 2})
    (ready,) = await rig.ready_entries()
    assert ready == {
        b"event_id": b"ev-1", b"join_ready": JOIN.encode(), b"envelope": b'{"e":1}',
        b"traceparent": b"tp-1",
    }  # fmt: skip
    assert await rig.redis.zscore(rig.keys.joins, JOIN) is None


async def test_a_branch_settled_again_counts_once_and_after_closing_is_late_not_published(
    rig: Rig,
) -> None:
    await rig.open(2)
    await rig.commit(arrive_op(rig.keys, JOIN, 0, b'{"n":0}'))
    await rig.commit(arrive_op(rig.keys, JOIN, 0, b'{"n":"again"}'))  # a replayed branch
    assert (await rig.join()).status == "open"
    await rig.commit(arrive_op(rig.keys, JOIN, 1, b'{"n":1}'))
    await rig.commit(arrive_op(rig.keys, JOIN, 1, b'{"n":"again"}'))
    state = await rig.join()
    assert state.outputs == ({"n": 0}, {"n": 1})
    assert (state.duplicates, state.late) == (1, 1)
    assert len(await rig.ready_entries()) == 1


async def test_a_branch_after_a_partial_close_is_recorded_late(rig: Rig) -> None:
    await rig.open(2, deadline=100.0)
    assert await JoinSweeper(rig.redis, rig.keys, 1).sweep(now=50.0) == []
    assert await JoinSweeper(rig.redis, rig.keys, 1).sweep(now=150.0) == [JOIN]
    assert await JoinSweeper(rig.redis, rig.keys, 1).sweep(now=150.0) == []
    await rig.commit(arrive_op(rig.keys, JOIN, 1, b'{"n":1}'))
    state = await rig.join()
    assert (state.status, state.expired, state.late) == ("partial", True, 1)
    assert state.outputs == (None, None)
    assert len(await rig.ready_entries()) == 1


async def test_a_failed_branch_closes_the_join_partial_once_the_others_are_in(rig: Rig) -> None:
    await rig.open(3)
    await rig.commit(fail_op(rig.keys, JOIN, 1, "max_deliveries"))
    assert (await rig.join()).status == "open"
    await rig.commit(arrive_op(rig.keys, JOIN, 0, b'{"n":0}'))
    await rig.commit(arrive_op(rig.keys, JOIN, 2, b'{"n":2}'))
    state = await rig.join()
    assert state.status == "partial"
    assert state.outputs == ({"n": 0}, None, {"n": 2})
    assert state.failures == {1: "max_deliveries"}
    assert len(await rig.ready_entries()) == 1
    # The dead-lettered branch, replayed after the join closed: recorded once, published never.
    await rig.commit(arrive_op(rig.keys, JOIN, 1, b'{"n":1}'))
    assert (await rig.join()).late == 1
    assert len(await rig.ready_entries()) == 1


async def test_a_stale_commit_neither_opens_nor_settles(rig: Rig) -> None:
    entry_id = await rig.pending()
    await rig.redis.xack(rig.keys.stream("inbox"), GROUP, entry_id)  # a peer committed it
    op = open_op(rig.keys, JOIN, "ev-1", 1, 4e9, b"{}", None, 600, rig.keys.handoffs)
    assert await rig.committer.commit(entry_id, outcome((op,))) is CommitStatus.STALE
    assert await load_join(rig.redis, rig.keys, JOIN) is None
    await rig.open(1)
    entry_id = await rig.pending()
    await rig.redis.xack(rig.keys.stream("inbox"), GROUP, entry_id)
    arrive = arrive_op(rig.keys, JOIN, 0, b"{}")
    assert await rig.committer.commit(entry_id, outcome((arrive,))) is CommitStatus.STALE
    assert (await rig.join()).status == "open"


async def test_opening_a_join_again_keeps_the_first(rig: Rig) -> None:
    await rig.open(2)
    await rig.commit(arrive_op(rig.keys, JOIN, 0, b"{}"))
    await rig.open(5)
    state = await rig.join()
    assert (state.expected, state.outputs[0]) == (2, {})


async def test_a_branch_of_an_unknown_join_changes_nothing(rig: Rig) -> None:
    await rig.commit(arrive_op(rig.keys, JOIN, 0, b"{}"))
    assert await load_join(rig.redis, rig.keys, JOIN) is None
    assert await rig.ready_entries() == []
