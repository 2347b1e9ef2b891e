"""Fan-out and join through the same runtime on a real Redis, in the fixture pipeline: several
``;``-separated groups of numbers become one adder branch each (join ``subtotals``), merged into
the reviewer's input. Each service runs as the Redis user the declaration derives.

Covers a join that completes, one whose branch is dead-lettered (partial: a human, with what is
missing), one whose branch never arrives (the deadline closes it), the dead-lettered branch
replayed after its join closed (late: recorded, nothing published again), and a single group
taking the chain's path with no extra hop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import orjson
import pytest
from redis.asyncio import Redis

from shared.ops.acl import AclPlan
from shared.ops.inbox import Inbox
from shared.ops.replay import ReplayPlan, plan_replay, replay_outcome
from shared.pipeline.keys import Keys
from shared.runtime.redis_client import connect
from shared.service import serve
from tests.audit import audit, finished
from tests.fixtures.arithmetic.pipeline import ARITHMETIC, factories
from tests.helpers import wait_for
from tests.integration.test_acl import AclRedis
from tests.integration.test_fixture_pipeline import server, settings_of
from tests.join_audit import is_branch_dead_letter

__all__ = ["server"]  # the fixture, shared with test_fixture_pipeline

REQUESTS = {
    "one-group": "add 2 and 3 and 4",
    "groups-ok": "1 2; 3 4; 5",
    "groups-13": "13 1; 2",
    "groups-dead": "1 2; 666",
    "groups-lost": "1; 999",
}


async def run_until_ended(
    redis_server: AclRedis,
    acl_plan: AclPlan,
    admin: Redis,
    requests: dict[str, str],
    until: Callable[[], Awaitable[bool]] | None = None,
) -> None:
    """Run the fixture pipeline until every request has ended (and ``until`` holds)."""
    keys = Keys(acl_plan.prefix)
    stop = asyncio.Event()
    builds = factories()
    tasks = [
        asyncio.create_task(serve(builds[s], settings_of(s, redis_server.url, acl_plan), stop))
        for s in ARITHMETIC.services
    ]
    producer = connect(
        redis_server.url, username="producer", password=acl_plan.passwords["producer"]
    )
    try:
        for event_id, text in requests.items():
            body = orjson.dumps({"text": text, "event_id": event_id})
            await producer.xadd(keys.stream(ARITHMETIC.entry_stream), {"payload": body})

        async def all_ended() -> bool:
            ended = await finished(admin, keys) >= len(requests)
            return ended and (until is None or await until())

        await wait_for(all_ended, timeout=60)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
        await producer.aclose()


async def test_branches_join_once_and_a_partial_join_goes_to_a_human_with_what_is_missing(
    server: tuple[AclRedis, AclPlan, Redis],
) -> None:
    redis_server, acl_plan, admin = server
    keys = Keys(acl_plan.prefix)
    await run_until_ended(redis_server, acl_plan, admin, REQUESTS)

    report = await audit(admin, keys, REQUESTS, ARITHMETIC)
    places = {e: next(iter(c)) for e, c in report.places().items()}
    assert places == {
        "one-group": "responses", "groups-ok": "responses", "groups-13": "escalations",
        "groups-dead": "escalations", "groups-lost": "escalations",
    }  # fmt: skip
    assert not report.lost
    assert not report.duplicated
    assert report.joins.problems() == []
    figures = report.joins.figures()
    assert (figures["joins"], figures["branches"]) == (4, 9)
    assert (figures["joins_completed"], figures["joins_partial"]) == (2, 2)
    assert (figures["joins_expired"], figures["branch_dead_letters"]) == (1, 1)

    answers = {
        e["event_id"]: orjson.loads(e["response"])["total"] for e in report.entries["responses"]
    }
    assert answers == {b"one-group": 9, b"groups-ok": 15}
    packets = {e["event_id"]: orjson.loads(e["packet"]) for e in report.entries["escalations"]}
    assert packets[b"groups-13"]["reason"] == "wrong_total"
    dead = packets[b"groups-dead"]
    assert dead["reason"] == "join_partial"
    assert dead["results"]["subtotals"]["missing"] == [1]
    assert dead["results"]["subtotals"]["failures"] == {"1": "cursed_number"}
    assert dead["results"]["subtotals"]["branches"][0] == {"total": 3}
    lost = packets[b"groups-lost"]
    assert lost["reason"] == "join_partial"
    assert lost["results"]["subtotals"]["expired"] is True
    assert lost["results"]["subtotals"]["failures"] == {"1": "deadline"}

    # The chain's path is unchanged: no extra hop for a single group.
    steps = report.steps["one-group"]
    assert [s["stage"] for s in steps] == [
        "reader", "validator", "adder", "validator", "reviewer", "validator",
    ]  # fmt: skip
    # Branches are steps of their own, side by side, and leave the event's status alone.
    steps = report.steps["groups-ok"]
    branch_steps = [s for s in steps if s.get("branch")]
    assert sorted((s["stage"], s["branch"].rsplit("|")[1]) for s in branch_steps) == [
        ("adder", "0"), ("adder", "1"), ("adder", "2"),
        ("validator", "0"), ("validator", "1"), ("validator", "2"),
    ]  # fmt: skip
    assert report.runs["groups-ok"]["status"] == "responded"
    (dead_letter,) = [e for e in report.entries["dlq"] if is_branch_dead_letter(e)]
    assert dead_letter["event_id"] == b"groups-dead"
    assert dead_letter["reason"] == b"cursed_number"
    # The endless branch is the only work left pending; every other group drained.
    pending = {g.group: g.pending for g in report.groups}
    assert pending == {"reader": 0, "adder": 1, "reviewer": 0, "validator": 0}


@pytest.mark.parametrize("event_id", ["groups-dead"])
async def test_a_dead_lettered_branch_replayed_after_its_join_closed_is_late_not_published(
    server: tuple[AclRedis, AclPlan, Redis], event_id: str
) -> None:
    redis_server, acl_plan, admin = server
    keys = Keys(acl_plan.prefix)
    requests = {event_id: REQUESTS[event_id]}
    await run_until_ended(redis_server, acl_plan, admin, requests)
    report = await audit(admin, keys, requests, ARITHMETIC)
    (join,) = report.joins.opened

    # Replay the branch's dead letter (as `baton dlq replay` does), with the adder fixed.
    inbox = Inbox(admin, keys, keys.dlq)
    (entry,) = await inbox.open_entries()
    plan = plan_replay(keys, ARITHMETIC, entry, 1_000_000)
    fields = {**plan.fields, b"envelope": plan.fields[b"envelope"].replace(b"666", b"6")}
    fixed = replay_outcome(ReplayPlan(plan.entry, plan.stream, fields, plan.note))
    assert await inbox.resolve(entry, fixed, 600)

    async def late() -> bool:
        state = (await audit(admin, keys, requests, ARITHMETIC)).joins.states[join]
        return state is not None and state.late == 1

    await run_until_ended(redis_server, acl_plan, admin, requests, until=late)
    report = await audit(admin, keys, requests, ARITHMETIC)
    assert report.joins.problems() == []
    assert report.joins.ready[join] == 1
    assert report.count("escalations") == 1
    assert report.count("responses") == 0
    assert report.runs[event_id]["status"] == "escalated"
    assert all(g.pending == 0 for g in report.groups)
