"""``baton eval`` on a small suite, through the real pipeline on the test Redis: the figures it
reports, the failures it counts, and the keys it leaves behind (none)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

import services
from shared.ops.embedded import EmbeddedRedis
from shared.ops.eval.evaluate import run_suite
from shared.ops.eval.session import RunOptions
from shared.ops.eval.suite import LoadedSuite, load_suite
from shared.pipeline.envelope import Envelope
from shared.pipeline.settings import BatonSettings
from shared.pipeline.stage import PipelineStage
from shared.runtime.delivery import Delivery
from shared.runtime.outcome import Outcome
from tests.helpers import DelegatingStage

MINI = Path(__file__).parents[1] / "fixtures" / "eval-mini.toml"
OFFLINE = RunOptions(provider="offline", concurrency=4, timeout_s=30)


def case_of(report: dict[str, Any], case_id: str) -> dict[str, Any]:
    return next(c for c in report["cases"] if c["id"] == case_id)


async def keys_under(redis: Redis, prefix: str) -> list[bytes]:
    return [key async for key in redis.scan_iter(match=f"{prefix}:*")]


def suite_file(tmp_path: Path, text: str) -> LoadedSuite:
    path = tmp_path / "suite.toml"
    path.write_text("version = 1\n" + text)
    return load_suite(path)


async def test_the_fixture_suite_runs_through_the_real_pipeline_and_every_case_passes(
    redis_server: EmbeddedRedis, redis: Redis
) -> None:
    report = await run_suite(load_suite(MINI), redis_server.url, OFFLINE)

    outcome = report["outcome"]
    assert report["ok"] is True
    assert report["failed"] == []
    assert outcome["cases"] == outcome["passed"] == 7
    assert outcome["routing_accuracy"] == 1.0
    assert outcome["escalation_precision"] == outcome["escalation_recall"] == 1.0
    assert outcome["escalations"] == {"expected": 3, "got": 3, "right": 3}
    assert outcome["contract_pass_rate"] == 1.0
    assert outcome["violations"] == outcome["must_contain_misses"] == 0
    assert outcome["lost"] == outcome["dead_lettered"] == 0
    assert report["per_category"]["billing"]["cases"] == 2
    assert report["per_category"]["(unspecified)"]["cases"] == 2
    # The trajectory: a reply takes the three agents and three validations; an injection
    # stops after intake's.
    answered = case_of(report, "billing-wrong-invoice")["process"]
    assert (answered["hops"], answered["llm_calls"], answered["retries"]) == (6, 3, 0)
    assert answered["tokens"] > 0
    assert answered["latency_s"] > 0
    stopped = case_of(report, "injection-reveal-prompt")["process"]
    assert (stopped["hops"], stopped["llm_calls"]) == (2, 1)
    assert report["process"]["llm_calls"]["total"] == 3 * 4 + 2 * 2 + 1
    assert report["run"]["provider"] == "offline"
    assert await keys_under(redis, report["run"]["prefix"]) == []


async def test_wrong_routes_leaked_phrases_and_missing_phrases_are_each_counted(
    redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    loaded = suite_file(tmp_path, """
[[cases]]
id = "billing-expects-human"
channel = "email"
language = "en"
text = "My invoice INV-9 is wrong, please correct the amount."
[cases.expect]
route = "escalation"
reason = "human_requested"
category = "billing"

[[cases]]
id = "billing-reply-checked"
channel = "email"
language = "en"
text = "My invoice INV-10 is wrong, please correct the amount."
[cases.expect]
route = "response"
category = "technical"
priority = ["urgent"]
must_contain = ["a refund code"]
must_not_contain = ["REVIEW", "never written"]
""")  # fmt: skip
    report = await run_suite(loaded, redis_server.url, OFFLINE)

    outcome = report["outcome"]
    assert report["ok"] is True  # wrong answers are figures, not a failed run
    assert sorted(report["failed"]) == ["billing-expects-human", "billing-reply-checked"]
    assert outcome["routing_accuracy"] == 0.0
    assert outcome["escalations"] == {"expected": 1, "got": 0, "right": 0}
    assert outcome["escalation_recall"] == 0.0
    assert outcome["escalation_precision"] is None  # nothing was escalated
    assert outcome["category_accuracy"] == 0.5
    assert outcome["priority_accuracy"] == 0.0
    assert outcome["violations"] == 1
    assert outcome["must_contain_misses"] == 1
    checked = case_of(report, "billing-reply-checked")
    assert checked["violations"] == [{"text": "REVIEW", "where": "reply"}]
    assert checked["misses"] == ["a refund code"]
    assert checked["problems"] == [
        "category", "priority", "contains 'REVIEW' (reply)", "lacks 'a refund code'",
    ]  # fmt: skip
    wrong_way = case_of(report, "billing-expects-human")
    assert wrong_way["got"]["route"] == "response"
    assert wrong_way["problems"] == ["route"]


class HangsOn(DelegatingStage):
    """Triage that never finishes one event, as a stage stuck on a call with no timeout."""

    def __init__(self, inner: PipelineStage, event_id: str) -> None:
        super().__init__(inner)
        self.event_id = event_id

    async def handle(self, envelope: Envelope, delivery: Delivery) -> Outcome:
        if envelope.event_id == self.event_id:
            await asyncio.Event().wait()
        return await self.inner.handle(envelope, delivery)


async def test_an_event_with_no_outcome_in_time_is_lost_and_fails_the_run(
    redis_server: EmbeddedRedis, redis: Redis
) -> None:
    def hanging_triage(settings: BatonSettings, client: Redis) -> PipelineStage:
        return HangsOn(services.load("triage").build_stage(settings, client), "legal-threat")

    options = RunOptions(provider="offline", timeout_s=1.0, stages={"triage": hanging_triage})
    report = await run_suite(load_suite(MINI), redis_server.url, options)

    assert report["ok"] is False
    assert report["outcome"]["lost"] == 1
    assert report["outcome"]["routes"]["lost"] == 1
    lost = case_of(report, "legal-threat")
    assert lost["got"]["route"] == "lost"
    assert lost["process"]["latency_s"] is None
    assert report["outcome"]["passed"] == 6
    assert await keys_under(redis, report["run"]["prefix"]) == []


async def test_tags_and_case_ids_select_what_runs(redis_server: EmbeddedRedis) -> None:
    loaded = load_suite(MINI)
    report = await run_suite(
        loaded, redis_server.url, OFFLINE, tags=["billing"], ids=["vague-help"]
    )

    ran = sorted(c["id"] for c in report["cases"])
    assert ran == ["billing-german", "billing-wrong-invoice", "vague-help"]
    assert report["suite"]["selected"] == ["case:vague-help", "tag:billing"]
    assert report["suite"]["cases"] == 7
