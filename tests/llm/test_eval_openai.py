"""``baton eval --provider openai``: the agents call an OpenAI-compatible server (the fake one
here), and the report carries that provider's tokens, prices and models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from shared.ops.embedded import EmbeddedRedis
from shared.ops.eval.evaluate import run_suite
from shared.ops.eval.session import RunOptions
from shared.ops.eval.suite import load_suite
from tests.fakes.openai_server import FakeOpenAI
from tests.llm.conftest import API_KEY, FAST_LLM
from tests.llm.test_pipeline_openai import (
    MODELS,
    PRICES,
    USAGE,
    answer_every_agent,
    cost,
    tokens,
)

SUITE = """version = 1

[[cases]]
id = "billing-charged-twice"
channel = "email"
language = "en"
text = "I was charged twice for the same month on invoice INV-20391."
[cases.expect]
route = "response"
category = "billing"
priority = ["high", "urgent"]
must_contain = ["double charge"]

[[cases]]
id = "legal-threat"
channel = "email"
language = "en"
text = "My lawyer will take legal action over my data."
[cases.expect]
route = "escalation"
reason = "sensitive_topic"
category = "legal"
"""


async def test_the_suite_runs_on_the_openai_provider_with_its_tokens_and_prices(
    redis_server: EmbeddedRedis, fake: FakeOpenAI, tmp_path: Path
) -> None:
    answer_every_agent(fake)  # whatever the text, the model says "billing, high, respond"
    path = tmp_path / "suite.toml"
    path.write_text(SUITE)
    overrides: dict[str, Any] = {
        "openai_base_url": fake.base_url,
        "openai_api_key": SecretStr(API_KEY),
        "llm_prices": PRICES,
        **FAST_LLM,
        **MODELS,
    }
    options = RunOptions(provider="openai", concurrency=2, timeout_s=30, overrides=overrides)

    report = await run_suite(load_suite(path), redis_server.url, options)

    assert report["ok"] is True
    assert report["run"]["provider"] == "openai"
    assert report["run"]["models"] == {"intake": "screen-mini", "triage": "triage-mini",
                                       "responder": "writer-large"}  # fmt: skip
    # The model called the legal threat billing; the deterministic signals caught it all the same.
    assert report["failed"] == []
    assert report["outcome"]["routing_accuracy"] == 1.0
    assert report["outcome"]["escalation_recall"] == 1.0
    answered = next(c for c in report["cases"] if c["id"] == "billing-charged-twice")
    assert answered["passed"] is True
    process = answered["process"]
    assert process["llm_calls"] == 3
    assert process["tokens"] == sum(tokens(schema) for schema in USAGE)
    expected_cost = (cost("screen-mini", "Screening") + cost("triage-mini", "TriageResult")
                     + cost("writer-large", "ResponderResult"))  # fmt: skip
    assert process["cost_usd"] == pytest.approx(expected_cost)
    # The legal threat goes to a specialist from triage: no reply is drafted for it.
    escalated_cost = cost("screen-mini", "Screening") + cost("triage-mini", "TriageResult")
    assert report["process"]["cost_usd"]["total"] == pytest.approx(expected_cost + escalated_cost)
    assert len(fake.requests) == 5
