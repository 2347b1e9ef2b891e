"""``python -m shared.ops.bench.fake_llm``: the benchmark's own lean fake OpenAI-compatible server.

The LLM-bound benchmark runs the real services with ``BATON_LLM=openai`` against a fake that
answers every ``POST /v1/chat/completions`` after a fixed delay, with a valid reply for the
contract the request names (``response_format.json_schema.name``). In production the LLM runs
elsewhere and costs the workers nothing; here the fake shares the machine's cores with the
services under test, so whatever CPU it burns per call is taken from them and the benchmark would
partly measure the fake. The tests' scripted fake (``tests.fakes.openai_server``: a thread per
connection, behaviour queues, request records) spent 250-430 us of CPU per call; this one is a
single asyncio process (aiohttp's low-level server on uvloop) that sleeps without blocking, keeps
no records and answers from strings prepared at start-up. It imports nothing from ``tests/``, so
the benchmark also runs from an installed package. Behaviour tests (errors, rate limits, hangs,
request inspection) keep using the tests' scripted fake.

Command line: ``python -m shared.ops.bench.fake_llm --port P --script FILE`` (``--port 0`` picks a
free port; the first stdout line is ``FAKE_OPENAI_URL=<base url>``). ``FILE`` is the JSON that
:func:`shared.ops.bench.llm.write_script` writes, the tests' script format restricted to defaults of
kind ``reply``: ``{"defaults": [{"kind": "reply", "content": {...}, "delay_s": 0.2,
"schema_name": "TriageResult"}, ...]}``.

Endpoints: ``POST /v1/chat/completions`` and ``GET /_admin/health`` (``{"ok": true, "waiting":
n}``, n the calls now waiting out their delay). A request naming no known contract gets a 400
with an OpenAI-shaped error object. There is no ``/_admin/reset``: nothing is recorded, so there
is nothing to drop.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from shared.runtime import heap
from shared.runtime.eventloop import run

BACKLOG = 4096
"""Listen backlog: hundreds of clients connect at once when a sweep point starts."""

CHAT_PATH = "/v1/chat/completions"
TIMER_MARGIN_S = 0.002
"""Added to a second sleep when the first ended early, so it cannot end early too."""
JSON_HEADERS = {"Content-Type": "application/json"}


class ScriptError(ValueError):
    """The script file is not a list of ``reply`` defaults this server can serve."""


@dataclass(frozen=True)
class Reply:
    """What to answer for one contract, prepared once."""

    content: str
    """The reply's JSON, as the string that goes in ``choices[0].message.content``."""
    delay_s: float
    completion_tokens: int


def load_script(path: Path) -> dict[str, Reply]:
    """The replies by contract (json_schema) name, from a script file."""
    try:
        script = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ScriptError(f"{path} is not JSON: {exc}") from None
    defaults = script.get("defaults") if isinstance(script, dict) else None
    if not isinstance(defaults, list) or not defaults:
        raise ScriptError(f"{path} has no list of 'defaults'")
    replies: dict[str, Reply] = {}
    for entry in defaults:
        replies.update(_reply(path, entry))
    return replies


def _reply(path: Path, entry: Any) -> dict[str, Reply]:
    if not isinstance(entry, dict) or entry.get("kind", "reply") != "reply":
        raise ScriptError(f"{path}: only defaults of kind 'reply' are served, not {entry!r}")
    name = entry.get("schema_name")
    if not isinstance(name, str) or not name:
        raise ScriptError(f"{path}: each default needs a 'schema_name'")
    content = entry.get("content")
    text = content if isinstance(content, str) else orjson.dumps(content).decode()
    delay_s = float(entry.get("delay_s") or 0.0)
    if delay_s < 0:
        raise ScriptError(f"{path}: 'delay_s' of {name} is negative")
    return {name: Reply(text, delay_s, max(1, len(text) // 4))}


def error_body(message: str, kind: str, code: str) -> bytes:
    """An OpenAI-shaped error body."""
    return orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})


def schema_name(body: Any) -> str | None:
    """``response_format.json_schema.name`` of a request body, if there is one."""
    if not isinstance(body, dict):
        return None
    response_format = body.get("response_format")
    if not isinstance(response_format, dict):
        return None
    json_schema = response_format.get("json_schema")
    name = json_schema.get("name") if isinstance(json_schema, dict) else None
    return name if isinstance(name, str) else None


def prompt_tokens(body: dict[str, Any]) -> int:
    """A rough prompt size (4 characters a token), from the messages' text."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return 1
    texts = [m.get("content") for m in messages if isinstance(m, dict)]
    return max(1, sum(len(t) for t in texts if isinstance(t, str)) // 4)


def completion(reply: Reply, body: dict[str, Any], serial: int) -> dict[str, Any]:
    """A Chat Completions response body, shaped as the tests' fake (and OpenAI) answer."""
    prompt = prompt_tokens(body)
    model = body.get("model")
    return {
        "id": f"chatcmpl-fake-{serial}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model if isinstance(model, str) and model else "fake-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.content, "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": prompt + reply.completion_tokens,
        },
    }


Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


class FakeLLM:
    """The request handler: two routes, no router, no middleware, no records."""

    def __init__(self, replies: Mapping[str, Reply]) -> None:
        self.replies = dict(replies)
        self._serial = itertools.count(1)
        self.waiting = 0
        self._known = ", ".join(sorted(self.replies))
        self._routes: dict[tuple[str, str], Handler] = {
            ("POST", CHAT_PATH): self.chat,
            ("GET", "/_admin/health"): self.health,
        }

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        route = self._routes.get((request.method, request.path))
        if route is None:
            message = f"no route {request.method} {request.path}"
            return _json(404, error_body(message, "invalid_request_error", "not_found"))
        return await route(request)

    async def health(self, request: web.BaseRequest) -> web.StreamResponse:
        return _json(200, orjson.dumps({"ok": True, "waiting": self.waiting}))

    async def chat(self, request: web.BaseRequest) -> web.StreamResponse:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _json(
                400, error_body("the body is not JSON", "invalid_request_error", "bad_json")
            )
        name = schema_name(body)
        reply = self.replies.get(name) if name is not None else None
        if reply is None:
            # No "json_schema" / "response_format" in the message: Baton's client would read
            # those words as "structured outputs unsupported" and retry in JSON mode.
            named = f"contract {name!r}" if name is not None else "no contract"
            message = f"the bench fake has no reply for {named}; it knows {self._known}"
            return _json(400, error_body(message, "invalid_request_error", "unknown_contract"))
        serial = next(self._serial)
        if reply.delay_s > 0:
            await self._wait(reply.delay_s)
        return _json(200, orjson.dumps(completion(reply, body, serial)))

    async def _wait(self, delay_s: float) -> None:
        """Sleep ``delay_s`` without blocking the loop, and never less.

        uvloop's timers count whole milliseconds from a cached clock, so one may fire up to about
        a millisecond early: the rare shortfall is slept again, with a margin.
        """
        self.waiting += 1
        try:
            deadline = time.monotonic() + delay_s
            await asyncio.sleep(delay_s)
            left = deadline - time.monotonic()
            if left > 0:
                await asyncio.sleep(left + TIMER_MARGIN_S)
        finally:
            self.waiting -= 1


def _json(status: int, data: bytes) -> web.Response:
    return web.Response(status=status, body=data, headers=JSON_HEADERS)


async def serve(replies: Mapping[str, Reply], host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT."""
    server = web.Server(FakeLLM(replies), access_log=None)
    runner = web.ServerRunner(server, shutdown_timeout=1.0)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        site = web.TCPSite(runner, host, port, backlog=BACKLOG, reuse_address=True)
        await site.start()
        bound = runner.addresses[0][1]
        print(f"FAKE_OPENAI_URL=http://{host}:{bound}/v1", flush=True)
        heap.tune()
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Lean fake OpenAI-compatible server for the bench")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--script", required=True, type=Path, help="JSON file of reply defaults")
    args = parser.parse_args(argv)
    try:
        replies = load_script(args.script)
    except (OSError, ScriptError) as exc:
        parser.error(str(exc))
    run(serve(replies, args.host, args.port))


if __name__ == "__main__":
    main()
