"""The LLM layer's pure parts, and the fake server run as its own process."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from services.intake.screening import Screening
from shared.agents.llm import build_llm
from shared.agents.llm.client import Usage
from shared.agents.llm.failures import parse_retry_after
from shared.agents.llm.pricing import PriceTable
from shared.agents.llm.retry import RetryPolicy
from shared.agents.llm.structured import strict_schema
from shared.pipeline.contracts import IntakeResult, ResponderResult, TriageResult
from tests.fakes.behaviours import Behaviour, Script
from tests.fakes.openai_admin import AdminClient
from tests.llm.conftest import API_KEY, FAST_LLM
from tests.llm.test_openai_provider import TRIAGE, triage_request

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": format_datetime(NOW + timedelta(seconds=7), usegmt=True)}, 7.0),
        ({"retry-after": format_datetime(NOW - timedelta(seconds=7), usegmt=True)}, 0.0),
        ({"retry-after": "-4"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after-ms": "x"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers, now=NOW) == expected


def test_retry_policy_delays() -> None:
    policy = RetryPolicy(max_attempts=5, base_s=0.5, cap_s=4.0, max_wait_s=10, rand=lambda: 1.0)
    assert [policy.delay(n, None) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert policy.delay(3, 2.0) == 2.5, "Retry-After plus at most base_s of jitter"
    assert policy.delay(0, 11.0) is None, "beyond max_wait_s: give up instead of waiting"
    zero = RetryPolicy(rand=lambda: 0.0)
    assert zero.delay(2, 1.0) == 1.0


@pytest.mark.parametrize("schema", [Screening, IntakeResult, TriageResult, ResponderResult])
def test_strict_schema(schema: type[TriageResult]) -> None:
    def objects(node: object) -> list[dict[str, object]]:
        if isinstance(node, list):
            return [o for item in node for o in objects(item)]
        if not isinstance(node, dict):
            return []
        found = [node] if node.get("type") == "object" else []
        return found + [o for value in node.values() for o in objects(value)]

    result = strict_schema(schema)
    for obj in objects(result):
        assert obj["additionalProperties"] is False
        assert obj["required"] == list(obj["properties"])  # type: ignore[call-overload]
    text = str(result)
    for keyword in ("'default'", "'title'", "maxLength", "minLength"):
        assert keyword not in text


def test_price_table() -> None:
    table = PriceTable({"gpt-4o": {"input": 5.0}})
    usage = Usage(input_tokens=2_000_000, output_tokens=1_000_000)
    assert table.cost("gpt-4o-mini-2024-07-18", usage) == pytest.approx(0.3 + 0.6)
    assert table.cost("gpt-4o", usage) == pytest.approx(10.0)
    assert table.cost("llama3", usage) is None


def test_fake_server_as_a_process(tmp_path: Path) -> None:
    script = Script(script=[Behaviour.fail(503)], defaults=[Behaviour.reply(TRIAGE)])
    path = tmp_path / "script.json"
    path.write_text(script.model_dump_json())
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.openai_server", "--port", "0", "--script", str(path)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("FAKE_OPENAI_URL=")
        base_url = line.split("=", 1)[1]
        admin = AdminClient(base_url)
        admin.load(Script(script=[Behaviour.fail(500)]))
        result = _generate(base_url)
        assert result == 3
        assert [r.answer for r in admin.requests()] == ["error:503", "error:500", "reply"]
        admin.reset()
        assert admin.requests() == []
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == 0


def _generate(base_url: str) -> int:
    import asyncio

    from shared.pipeline.settings import BatonSettings

    async def call() -> int:
        key = SecretStr(API_KEY)
        settings = BatonSettings(
            llm="openai", openai_base_url=base_url, openai_api_key=key, **FAST_LLM
        )
        client = build_llm(settings)
        try:
            return (await client.generate(triage_request())).attempts
        finally:
            await client.aclose()

    return asyncio.run(call())
