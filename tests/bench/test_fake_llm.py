"""The benchmark's fake OpenAI server (``python -m shared.ops.bench.fake_llm``), over real HTTP.

Each fake runs as a child process on a free loopback port, started from the script the benchmark
writes. Timing is only checked from below (an answer never comes before the delay): the machine
is shared, so nothing here asserts how fast anything is.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from services.intake.screening import Screening
from shared.agents.llm.structured import response_format
from shared.agents.llm.transport import ChatReply
from shared.ops.bench.llm import REPLIES, write_script
from shared.ops.embedded import free_port
from shared.pipeline.contracts import Contract, ResponderResult, TriageResult
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
DELAY_S = 0.2
CONTRACTS: list[type[Contract]] = [Screening, TriageResult, ResponderResult]


@contextmanager
def running_fake(script: Path) -> Iterator[str]:
    """The fake as a child process; yields its root URL once it listens."""
    port = free_port()
    argv = [sys.executable, "-m", "shared.ops.bench.fake_llm", "--port", str(port), "--script",
            str(script)]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stderr is not None
    try:
        first = proc.stdout.readline()  # printed once the socket listens; b"" if it died
        assert first.startswith(b"FAKE_OPENAI_URL="), proc.stderr.read().decode()
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()


@pytest.fixture(scope="module")
def fake_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    script = write_script(tmp_path_factory.mktemp("fake") / "script.json", DELAY_S)
    with running_fake(script) as url:
        yield url


def chat_body(contract: type[Contract] | None = None, name: str | None = None) -> dict[str, Any]:
    """A request as Baton's OpenAI client sends it (structured outputs for ``contract``)."""
    body: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You triage customer support requests."},
            {"role": "user", "content": "I was charged twice for my invoice."},
        ],
        "temperature": 0.0,
    }
    if contract is not None:
        body["response_format"] = response_format(contract, "json_schema")
    if name is not None:
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": name}}
    return body


async def post_chat(session: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, Any]:
    async with session.post(f"{url}/v1/chat/completions", data=orjson.dumps(body)) as response:
        return response.status, orjson.loads(await response.read())


async def health(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with session.get(f"{url}/_admin/health") as response:
        return response.status, orjson.loads(await response.read())


def test_the_bench_has_a_reply_for_every_agent_contract() -> None:
    assert set(REPLIES) == {contract.__name__ for contract in CONTRACTS}


async def test_health_answers_ok(fake_url: str) -> None:
    async with aiohttp.ClientSession() as session:
        status, body = await health(session, fake_url)
    assert status == 200
    assert body["ok"] is True


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.__name__)
async def test_the_reply_is_a_chat_completion_valid_for_the_named_contract(
    fake_url: str, contract: type[Contract]
) -> None:
    async with aiohttp.ClientSession() as session:
        status, body = await post_chat(session, fake_url, chat_body(contract))

    assert status == 200
    assert (body["object"], body["choices"][0]["message"]["role"]) == (
        "chat.completion", "assistant"
    )  # fmt: skip
    completion = ChatReply.model_validate(body)  # what Baton's client reads of a reply
    assert completion.model == "gpt-4o-mini"
    (choice,) = completion.choices
    assert choice.finish_reason == "stop"
    assert choice.message.content is not None
    contract.model_validate_json(choice.message.content)
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens > 0
    assert body["usage"]["total_tokens"] == usage.prompt_tokens + usage.completion_tokens


async def test_each_call_gets_its_own_completion_id(fake_url: str) -> None:
    async with aiohttp.ClientSession() as session:
        answers = await asyncio.gather(
            *(post_chat(session, fake_url, chat_body(TriageResult)) for _ in range(5))
        )
    assert len({body["id"] for _, body in answers}) == 5


async def test_an_answer_never_comes_before_the_delay(fake_url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for contract in CONTRACTS:
            started = time.monotonic()
            status, _ = await post_chat(session, fake_url, chat_body(contract))
            elapsed = time.monotonic() - started
            assert status == 200
            assert elapsed >= DELAY_S, f"{contract.__name__} answered after {elapsed:.4f}s"


@pytest.mark.parametrize(
    "body",
    [chat_body(name="NoSuchContract"), chat_body(), {"messages": []}],
    ids=["unknown-name", "no-response-format", "no-messages-either"],
)
async def test_a_request_naming_no_known_contract_gets_an_openai_400(
    fake_url: str, body: dict[str, Any]
) -> None:
    async with aiohttp.ClientSession() as session:
        status, answer = await post_chat(session, fake_url, body)
    assert status == 400
    error = answer["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "unknown_contract"
    assert "TriageResult" in error["message"]  # it says which contracts it knows


async def test_the_unknown_name_is_quoted_in_the_error(fake_url: str) -> None:
    async with aiohttp.ClientSession() as session:
        _, answer = await post_chat(session, fake_url, chat_body(name="NoSuchContract"))
    assert "'NoSuchContract'" in answer["error"]["message"]


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [("/v1/chat/completions", b"{not json", 400, "bad_json"),
     ("/v1/embeddings", b"{}", 404, "not_found")],
)  # fmt: skip
async def test_a_bad_body_or_unknown_path_gets_an_error_object(
    fake_url: str, path: str, body: bytes, status: int, code: str
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake_url}{path}", data=body) as response,
    ):
        got, answer = response.status, orjson.loads(await response.read())
    assert got == status
    assert answer["error"]["code"] == code


async def test_hundreds_of_calls_wait_out_their_delay_at_once(tmp_path: Path) -> None:
    calls = 300
    script = write_script(tmp_path / "script.json", 3600.0)  # none is answered during the test
    with running_fake(script) as url:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            pending = [
                asyncio.create_task(post_chat(session, url, chat_body(TriageResult)))
                for _ in range(calls)
            ]

            async def all_waiting() -> bool:
                _, body = await health(session, url)
                return bool(body["waiting"] == calls)

            try:
                await wait_for(all_waiting, timeout=60)
            finally:
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)


def test_a_script_with_a_default_it_cannot_serve_is_refused_at_start(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_bytes(orjson.dumps({"defaults": [{"kind": "hang", "schema_name": "X"}]}))
    argv = [sys.executable, "-m", "shared.ops.bench.fake_llm", "--port", str(free_port()),
            "--script", str(script)]  # fmt: skip
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, timeout=60, check=False)
    assert done.returncode == 2
    assert b"only defaults of kind 'reply'" in done.stderr
