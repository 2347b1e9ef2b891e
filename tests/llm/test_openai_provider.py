"""The OpenAI provider through the real ``openai`` SDK against the fake server: the agents'
happy paths, structured-output modes, contract and permanent errors, usage and cost."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from services.intake.handler import handle as intake_handle
from services.intake.settings import IntakeSettings
from services.responder.handler import handle as responder_handle
from services.responder.settings import ResponderSettings
from services.triage.handler import handle as triage_handle
from services.triage.settings import TriageSettings
from shared.agents.agent import AgentContext
from shared.agents.guardrails import Budget, BudgetLedger
from shared.agents.llm import LLMClient, LLMRequest, OfflineLLM, build_llm
from shared.agents.llm.guarded import GuardedLLM
from shared.agents.llm.pricing import PriceTable
from shared.errors import ConfigError, ContractError, PermanentError
from shared.pipeline.contracts import (
    CustomerRequest,
    ResponderRequest,
    ResponderResult,
    TriageRequest,
    TriageResult,
)
from shared.pipeline.keys import Keys
from shared.pipeline.settings import BatonSettings
from tests.fakes.behaviours import Behaviour
from tests.fakes.openai_server import FakeOpenAI
from tests.llm.conftest import API_KEY, FAST_LLM, MakeClient, llm_settings

SECRET_TICKET = "my card 4111 1111 1111 1111 was charged twice, order INV-20391"

TRIAGE = {
    "category": "billing", "priority": "high", "confidence": 0.91, "route": "respond",
    "human_requested": False, "reasons": ["double charge"], "summary": "Charged twice",
    "key_facts": ["INV-20391"],
}  # fmt: skip
SCREENING = {
    "language": "en", "injection_risk": 0.05, "injection_signals": [],
    "summary": "Customer charged twice", "key_facts": ["INV-20391"],
}  # fmt: skip
RESPONDER = {
    "reply": "Sorry about the double charge; we have refunded it.", "language": "en",
    "follow_up_questions": [],
}  # fmt: skip


def agent_settings(cls: type[BatonSettings], fake: FakeOpenAI) -> Any:
    key = SecretStr(API_KEY)
    return cls(llm="openai", openai_base_url=fake.base_url, openai_api_key=key, **FAST_LLM)


def guarded(client: LLMClient, redis: Redis, prefix: str, stage: str) -> GuardedLLM:
    """The client as an agent gets it: under the event's budget ledger."""
    return GuardedLLM(
        client=client, ledger=BudgetLedger(redis, Keys(prefix), 3600), event_id=f"e-{stage}",
        stage=stage, attempt=0, budget=Budget(tokens=100_000, usd=1.0), created_at=time.time(),
        deadline_s=600, prices=PriceTable(),
    )  # fmt: skip


def triage_request(
    text: str = SECRET_TICKET, model: str = "gpt-4o-mini"
) -> LLMRequest[TriageResult]:
    return LLMRequest(
        agent="triage", model=model, system="Classify the ticket.", user=text,
        schema=TriageResult, offline=lambda: TriageResult.model_validate(TRIAGE),
    )  # fmt: skip


async def test_intake_screening_happy_path(fake: FakeOpenAI, redis: Redis, prefix: str) -> None:
    settings = agent_settings(IntakeSettings, fake)
    client = build_llm(settings, redis)
    fake.script(Behaviour.reply(SCREENING, usage={"prompt_tokens": 300, "completion_tokens": 40}))
    meter = guarded(client, redis, prefix, "intake")
    result = await intake_handle(
        CustomerRequest(text="I was charged twice for INV-20391, mail me at a@b.example"),
        AgentContext(event_id="e-1", settings=settings, llm=meter),
    )
    await client.aclose()
    assert result.summary == "Customer charged twice"
    assert result.injection_risk == 0.05
    assert result.pii.email == 1
    [seen] = fake.requests
    assert seen.schema_name == "Screening"
    assert seen.body["response_format"]["json_schema"]["strict"] is True
    assert seen.body["model"] == settings.intake_model
    assert seen.body["max_tokens"] == settings.intake_max_tokens
    assert "a@b.example" not in seen.message("user"), "intake redacts before the model sees it"
    assert seen.headers["authorization"] == f"Bearer {API_KEY}"
    assert meter.usage.input_tokens == 300
    assert meter.usage.output_tokens == 40
    assert meter.cost_usd == pytest.approx((300 * 0.15 + 40 * 0.60) / 1e6)


async def test_triage_happy_path(fake: FakeOpenAI, redis: Redis, prefix: str) -> None:
    settings = agent_settings(TriageSettings, fake)
    client = build_llm(settings, redis)
    fake.script(Behaviour.reply(TRIAGE))
    request = TriageRequest(
        text="charged twice", language="en", channel="email", injection_risk=0.0, summary="x"
    )
    result = await triage_handle(
        request,
        AgentContext(event_id="e-2", settings=settings, llm=guarded(client, redis, prefix, "t")),
    )
    await client.aclose()
    assert result == TriageResult.model_validate(TRIAGE)
    [seen] = fake.requests
    assert seen.schema_name == "TriageResult"
    schema = seen.body["response_format"]["json_schema"]["schema"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == set(TriageResult.model_fields)
    assert seen.message("system").startswith("You")


async def test_responder_happy_path(fake: FakeOpenAI, redis: Redis, prefix: str) -> None:
    settings = agent_settings(ResponderSettings, fake)
    client = build_llm(settings, redis)
    fake.script(Behaviour.reply(RESPONDER))
    request = ResponderRequest(
        text="charged twice", language="en", category="billing", priority="high",
        mode="answer", summary="Charged twice",
    )  # fmt: skip
    result = await responder_handle(
        request,
        AgentContext(event_id="e-3", settings=settings, llm=guarded(client, redis, prefix, "r")),
    )
    await client.aclose()
    assert result == ResponderResult.model_validate(RESPONDER)
    [seen] = fake.requests
    assert seen.schema_name == "ResponderResult"
    assert seen.body["temperature"] == settings.responder_temperature


async def test_non_json_reply_is_a_contract_error(
    fake: FakeOpenAI, make_client: MakeClient
) -> None:
    fake.script(Behaviour.reply(f"Sure! The ticket says: {SECRET_TICKET}"))
    with pytest.raises(ContractError) as caught:
        await make_client().generate(triage_request())
    assert caught.value.reason == "contract_violation"
    assert "not JSON" in caught.value.detail
    assert SECRET_TICKET not in str(caught.value)
    assert SECRET_TICKET not in repr(caught.value.errors)
    assert len(fake.requests) == 1, "a contract violation is not retried here"


async def test_schema_violation_is_a_contract_error(
    fake: FakeOpenAI, make_client: MakeClient
) -> None:
    bad = {**TRIAGE, "route": "ship_it_now", "confidence": 7, "surprise": SECRET_TICKET}
    fake.script(Behaviour.reply(bad))
    with pytest.raises(ContractError) as caught:
        await make_client().generate(triage_request())
    locs = {err["loc"] for err in caught.value.errors}
    assert {"route", "confidence", "surprise"} <= locs
    assert caught.value.reason == "contract_violation"
    assert SECRET_TICKET not in str(caught.value)
    assert SECRET_TICKET not in repr(caught.value.errors)


async def test_truncated_reply_is_a_contract_error(
    fake: FakeOpenAI, make_client: MakeClient
) -> None:
    fake.script(Behaviour.reply('{"category": "bil', finish_reason="length"))
    with pytest.raises(ContractError, match="cut off"):
        await make_client().generate(triage_request())


@pytest.mark.parametrize(
    "behaviour",
    [
        Behaviour.reply(None, refusal="I can't help with that."),
        Behaviour.reply("", finish_reason="content_filter"),
    ],
    ids=["refusal", "content_filter"],
)
async def test_refusal_and_content_filter_are_permanent(
    fake: FakeOpenAI, make_client: MakeClient, behaviour: Behaviour
) -> None:
    fake.script(behaviour)
    with pytest.raises(PermanentError) as caught:
        await make_client().generate(triage_request())
    assert caught.value.reason == "llm_error"
    assert not isinstance(caught.value, ContractError)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_client_errors_are_permanent_without_retry(
    fake: FakeOpenAI, make_client: MakeClient, status: int
) -> None:
    echo = {"message": f"bad request: {SECRET_TICKET}", "type": "invalid_request_error"}
    fake.script(Behaviour.fail(status, error={**echo, "code": "some_code"}))
    with pytest.raises(PermanentError) as caught:
        await make_client().generate(triage_request())
    assert caught.value.reason == "llm_error"
    assert f"HTTP {status} from the LLM provider (some_code)" in caught.value.detail
    assert SECRET_TICKET not in str(caught.value), "provider messages may echo the prompt"
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None
    assert len(fake.requests) == 1


async def test_auto_mode_falls_back_to_json_object_and_remembers() -> None:
    with FakeOpenAI(supports_json_schema=False) as fake:
        client = build_llm_for(fake, llm_structured="auto")
        fake.script(Behaviour.reply(TRIAGE), Behaviour.reply(TRIAGE))
        first = await client.generate(triage_request())
        second = await client.generate(triage_request())
        await client.aclose()
    assert first.value == second.value == TriageResult.model_validate(TRIAGE)
    formats = [(r.response_format, "schema" in r.body["response_format"]) for r in fake.requests]
    assert formats == [
        ("json_schema", False),
        ("json_object", True),  # rejected too: the server knows no schema key
        ("json_object", False),
        ("json_object", False),
    ]
    assert (first.attempts, second.attempts) == (3, 1)
    system = fake.requests[2].message("system")
    assert '"route":"respond"' in system, "JSON mode shows an example of a valid answer"
    assert "additionalProperties" not in system, "not the raw schema"


async def test_llama_cpp_rejecting_json_schema_with_a_500_gets_json_object_with_the_schema() -> (
    None
):
    with FakeOpenAI(llama_cpp=True) as fake:
        client = build_llm_for(fake)  # default settings: auto
        fake.script(Behaviour.reply(TRIAGE), Behaviour.reply(TRIAGE))
        first = await client.generate(triage_request())
        second = await client.generate(triage_request())
        await client.aclose()
    assert first.value == second.value
    assert [r.answer for r in fake.requests] == ["error:500", "reply", "reply"]
    enforced = fake.requests[1].body["response_format"]
    assert enforced["type"] == "json_object"
    assert enforced["schema"]["properties"]["route"]["enum"] == ["respond", "escalate", "clarify"]
    assert fake.requests[2].body["response_format"] == enforced, "remembered per model"
    assert client.state == "closed", "a capability answer is no outage"


async def test_json_object_mode_setting(fake: FakeOpenAI, make_client: MakeClient) -> None:
    fake.script(Behaviour.reply("```json\n" + orjson_dumps(TRIAGE) + "\n```"))
    result = await make_client(llm_structured="json_object").generate(triage_request())
    assert result.value.category == "billing"
    assert fake.requests[0].response_format == "json_object"


async def test_json_schema_mode_does_not_fall_back() -> None:
    with FakeOpenAI(supports_json_schema=False) as fake:
        client = build_llm_for(fake, llm_structured="json_schema")
        with pytest.raises(PermanentError, match="BATON_LLM_STRUCTURED"):
            await client.generate(triage_request())
        await client.aclose()
    assert len(fake.requests) == 1


async def test_cost_from_usage_and_price_overrides(
    fake: FakeOpenAI, make_client: MakeClient
) -> None:
    usage = {"prompt_tokens": 1_000_000, "completion_tokens": 200_000}
    fake.set_defaults(Behaviour.reply(TRIAGE, usage=usage))
    default_priced = await make_client().generate(triage_request())
    assert default_priced.usage.input_tokens == 1_000_000
    assert default_priced.cost_usd == pytest.approx(0.15 + 0.2 * 0.60)
    prices = {"gpt-4o-mini": {"input": 1.0, "output": 2.0}, "local-llama": {"input": 0.5}}
    client = make_client(llm_prices=prices)
    assert (await client.generate(triage_request())).cost_usd == pytest.approx(1.0 + 0.4)
    local = triage_request()
    local = LLMRequest(**{**local.__dict__, "model": "local-llama"})
    assert (await client.generate(local)).cost_usd == pytest.approx(0.5)
    unknown = LLMRequest(**{**local.__dict__, "model": "mystery-model"})
    assert (await client.generate(unknown)).cost_usd == 0.0


async def test_missing_usage_is_estimated(fake: FakeOpenAI, make_client: MakeClient) -> None:
    fake.script(Behaviour.reply(TRIAGE, omit_usage=True))
    result = await make_client().generate(triage_request())
    assert result.usage.input_tokens > 0
    assert result.usage.output_tokens > 0


def test_build_llm_offline_and_config_errors(fake: FakeOpenAI) -> None:
    offline = build_llm(BatonSettings(llm="offline"))
    assert isinstance(offline, OfflineLLM)
    with pytest.raises(ConfigError, match="Redis"):
        build_llm_for(fake, llm_rpm=10)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        build_llm(BatonSettings(llm="openai", openai_base_url=None, openai_api_key=None))


async def test_offline_client_is_always_available() -> None:
    client = OfflineLLM()
    await client.wait_until_available()
    assert client.state == "closed"
    await client.aclose()


def build_llm_for(fake: FakeOpenAI, **overrides: Any) -> LLMClient:
    return build_llm(llm_settings(fake, **overrides))


def orjson_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
