"""What the openai SDK client sends for the deployments users run: organisation and project
headers, Azure OpenAI's deployment URLs and key, and reasoning models' max_completion_tokens."""

from __future__ import annotations

from pydantic import SecretStr

from shared.agents.llm import build_llm
from shared.pipeline.settings import BatonSettings
from tests.fakes.behaviours import Behaviour
from tests.fakes.openai_server import FakeOpenAI
from tests.llm.conftest import FAST_LLM, MakeClient
from tests.llm.test_openai_provider import TRIAGE, triage_request


async def test_organization_and_project_headers_are_sent(
    fake: FakeOpenAI, make_client: MakeClient
) -> None:
    fake.script(Behaviour.reply(TRIAGE))
    client = make_client(openai_organization="org-baton", openai_project="proj-support")
    await client.generate(triage_request())
    headers = fake.requests[0].headers
    assert (headers["openai-organization"], headers["openai-project"]) == (
        "org-baton", "proj-support"
    )  # fmt: skip
    assert headers["authorization"].startswith("Bearer ")


async def test_azure_endpoint_posts_to_the_model_s_deployment_with_its_api_key(
    fake: FakeOpenAI,
) -> None:
    fake.script(Behaviour.reply(TRIAGE))
    settings = BatonSettings(
        azure_openai_endpoint=f"http://127.0.0.1:{fake.port}",
        azure_openai_api_key=SecretStr("azure-key"),
        openai_api_version="2024-10-21",
        **FAST_LLM,
    )
    assert settings.llm_provider == "openai"
    client = build_llm(settings)
    try:
        result = await client.generate(triage_request(model="support-gpt4o"))
    finally:
        await client.aclose()
    assert result.value.category == "billing"
    (request,) = fake.requests
    assert (
        request.path == "/openai/deployments/support-gpt4o/chat/completions?api-version=2024-10-21"
    )
    assert request.headers["api-key"] == "azure-key"


async def test_reasoning_model_gets_max_completion_tokens_and_no_temperature(
    fake: FakeOpenAI, make_client: MakeClient
) -> None:
    fake.script(Behaviour.reply(TRIAGE))
    await make_client().generate(triage_request(model="o3-mini"))
    body = fake.requests[0].body
    assert body["max_completion_tokens"] > 0
    assert "max_tokens" not in body
    assert "temperature" not in body


async def test_a_400_asking_for_max_completion_tokens_switches_the_model_for_good(
    fake: FakeOpenAI, make_client: MakeClient
) -> None:
    unsupported = {
        "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
        "Use 'max_completion_tokens' instead.",
        "type": "invalid_request_error", "param": "max_tokens", "code": "unsupported_parameter",
    }  # fmt: skip
    fake.script(Behaviour.fail(400, error=unsupported), Behaviour.reply(TRIAGE),
                Behaviour.reply(TRIAGE))  # fmt: skip
    client = make_client()
    first = await client.generate(triage_request(model="my-reasoning-deployment"))
    await client.generate(triage_request(model="my-reasoning-deployment"))
    assert first.attempts == 2
    sent = [("max_tokens" in r.body, "max_completion_tokens" in r.body) for r in fake.requests]
    assert sent == [(True, False), (False, True), (False, True)]
