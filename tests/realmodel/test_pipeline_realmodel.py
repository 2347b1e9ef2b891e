"""The whole pipeline against a real model, with default settings: ``BATON_LLM=openai`` and
``OPENAI_BASE_URL`` pointing at llama-cpp-python's server, nothing else set.

The server answers a json_schema ``response_format`` with HTTP 500; the client must take that as
a capability answer, move to ``json_object`` with the schema (which the server enforces), and
lose no event to the negotiation or the circuit breaker. Each request ends exactly once. The
figures (where events ended, calls, tokens, latency, contract pass rate) are written to
``.baton/realmodel/pipeline.json`` for the record.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

import services
from services.pipeline import PIPELINE
from shared.agents.agent import AgentStage
from shared.agents.llm.openai_provider import OpenAIClient
from shared.ops.embedded import EmbeddedRedis
from shared.ops.eval.suite import load_suite
from shared.pipeline.keys import Keys
from shared.pipeline.settings import BatonSettings
from shared.pipeline.stage import PipelineStage
from shared.runtime.runrecord import load_run
from shared.service import StageFactory
from tests.helpers import InProcessPipeline, post, stream_entries, terminal_count, wait_for
from tests.realmodel.conftest import ModelServer

# A 0.5B model on two CPU cores takes 10-60 s an event: far past the suite's default timeout.
pytestmark = [pytest.mark.realmodel, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "shared" / "ops" / "eval" / "suites" / "realmodel.toml"
FIGURES = ROOT / ".baton" / "realmodel" / "pipeline.json"
EVENT_TIMEOUT_S = 240.0


def keeping_client(service: str, clients: dict[str, OpenAIClient]) -> StageFactory:
    def build(settings: BatonSettings, redis: Redis) -> PipelineStage:
        stage = services.load(service).build_stage(settings, redis)
        assert isinstance(stage, AgentStage)
        assert isinstance(stage.llm, OpenAIClient)
        clients[service] = stage.llm
        return stage

    return build


async def ended_in(redis: Redis, keys: Keys) -> dict[str, list[str]]:
    """Event id -> the terminal streams it appears in."""
    where: dict[str, list[str]] = {}
    for name, stream in (("responses", keys.responses), ("escalations", keys.escalations),
                         ("dlq", keys.dlq)):  # fmt: skip
        for fields in await stream_entries(redis, stream):
            where.setdefault(fields["event_id"].decode(), []).append(name)
    return where


async def test_a_dozen_requests_with_default_settings_each_end_exactly_once(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str, model_server: ModelServer
) -> None:
    keys = Keys(prefix)
    cases = load_suite(SUITE).cases
    clients: dict[str, OpenAIClient] = {}
    stages = {name: keeping_client(name, clients) for name in PIPELINE.agent_names}
    latencies: dict[str, float] = {}
    async with InProcessPipeline(
        redis_server.url, prefix, stages, fast=False, llm="openai",
        openai_base_url=model_server.base_url,
    ):  # fmt: skip
        for done, case in enumerate(cases, start=1):
            started = time.monotonic()
            await post(redis, keys, case.payload())

            async def ended(count: int = done) -> bool:
                return await terminal_count(redis, keys) >= count

            await wait_for(ended, timeout=EVENT_TIMEOUT_S, interval=0.2)
            latencies[case.id] = round(time.monotonic() - started, 2)
        negotiated = {name: client.structured_mode(client_model(name)) for name, client in
                      clients.items()}  # fmt: skip
        breakers = {name: client.state for name, client in clients.items()}

    where = await ended_in(redis, keys)
    figures = await pipeline_figures(redis, keys, [c.id for c in cases], where, latencies)
    figures["negotiated"] = negotiated
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text(json.dumps(figures, indent=2) + "\n")
    assert {case.id for case in cases} == set(where), "every request ended"
    assert all(len(streams) == 1 for streams in where.values()), f"ended twice: {where}"
    assert "dlq" not in Counter(s for streams in where.values() for s in streams), where
    # The server answers json_schema with a 500: every agent that called it moved to json_object
    # with the schema, which it enforces (an agent no event reached never had to ask).
    assert negotiated["intake"] == negotiated["triage"] == "json_object_schema", negotiated
    assert "json_object" not in negotiated.values(), negotiated
    assert set(breakers.values()) == {"closed"}, breakers
    assert figures["contract_pass_rate"] >= 0.95, figures


def client_model(service: str) -> str:
    settings = services.load(service).SETTINGS()
    model: str = getattr(settings, f"{service}_model")
    return model


async def pipeline_figures(
    redis: Redis, keys: Keys, event_ids: list[str], where: dict[str, list[str]],
    latencies: dict[str, float],
) -> dict[str, Any]:  # fmt: skip
    """Calls, tokens and contract checks per event, from the run records."""
    calls = tokens_in = tokens_out = answered = valid = 0
    for event_id in event_ids:
        run = await load_run(redis, keys, event_id)
        assert run is not None
        for step in run["steps"]:
            if step["stage"] not in PIPELINE.agent_names:
                continue
            calls += step.get("llm_calls", 0)
            tokens_in += step.get("tokens_in", 0)
            tokens_out += step.get("tokens_out", 0)
            if step["outcome"] in ("ok", "invalid_output"):
                answered += 1
                valid += step["outcome"] == "ok"
    events = len(event_ids)
    ordered = sorted(latencies.values())
    return {
        "events": events,
        "ended_in": dict(Counter(streams[0] for streams in where.values())),
        "llm_calls_per_event": round(calls / events, 2),
        "tokens_in_per_event": round(tokens_in / events),
        "tokens_out_per_event": round(tokens_out / events),
        "latency_s": {"p50": ordered[len(ordered) // 2], "max": ordered[-1]},
        "latency_by_event_s": latencies,
        "agent_replies": answered,
        "contract_pass_rate": round(valid / answered, 3) if answered else 0.0,
    }
