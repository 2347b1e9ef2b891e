"""A fake OpenAI-compatible server: real HTTP on loopback, scriptable per request.

In a test::

    with FakeOpenAI() as fake:
        fake.script(Behaviour.rate_limited(retry_after=1), Behaviour.reply({"ok": True}))
        settings = ...(openai_base_url=fake.base_url, openai_api_key="sk-test")
        ...
        assert fake.requests[1].arrived_mono - fake.requests[0].arrived_mono >= 1

From another process: ``python -m tests.fakes.openai_server --port N [--script FILE.json]``
(``--port 0`` picks a free port; the first stdout line is ``FAKE_OPENAI_URL=<base url>``), then
script and inspect it over HTTP (:class:`tests.fakes.openai_admin.AdminClient`, or any client):

* ``POST /_admin/script`` with a :class:`~tests.fakes.behaviours.Script` JSON body;
* ``GET /_admin/requests``: the recorded requests, oldest first;
* ``POST /_admin/reset``: clear the queue and the records;
* ``GET /_admin/health``.

Only ``POST /v1/chat/completions`` is served; each request is recorded (body, headers, arrival
time) before it is answered. Test-only: it keeps request headers, the API key included.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any

from tests.fakes.behaviours import Behaviour, Recorded, Script

CHAT_PATH = "/v1/chat/completions"
AZURE_CHAT = re.compile(r"/openai/deployments/[\w.-]+/chat/completions\?api-version=[\w.-]+")
"""Azure OpenAI's path for a deployment (the request's model)."""
UNSCRIPTED = 418


class FakeState:
    """Queue, defaults and records, shared by the handler threads."""

    def __init__(self, supports_json_schema: bool = True, llama_cpp: bool = False) -> None:
        self.llama_cpp = llama_cpp
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.queue: list[Behaviour] = []
        self.defaults: list[Behaviour] = []
        self.supports_json_schema = supports_json_schema
        self.records: list[Recorded] = []
        self.served = 0

    def load(self, script: Script) -> None:
        with self.lock:
            if script.reset:
                self.queue.clear()
                self.records.clear()
            self.queue.extend(b.model_copy() for b in script.script)
            if script.defaults is not None:
                self.defaults = list(script.defaults)
            if script.supports_json_schema is not None:
                self.supports_json_schema = script.supports_json_schema

    def rejects(self, response_format: Any) -> tuple[int, dict[str, Any]] | None:
        """The error a server of this kind answers to ``response_format``, if it rejects it.

        Without json_schema support: OpenAI-style servers answer 400 to json_schema, and to
        json_object with a ``schema`` key; llama-cpp-python's server (``llama_cpp``) answers 500
        to json_schema and enforces json_object's ``schema``.
        """
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if self.supports_json_schema and not self.llama_cpp:
            return None
        if kind == "json_schema":
            return (500, LLAMA_CPP_REJECTION) if self.llama_cpp else (400, UNSUPPORTED_SCHEMA)
        if kind == "json_object" and "schema" in response_format and not self.llama_cpp:
            return 400, UNSUPPORTED_SCHEMA_KEY
        return None

    def take(self, model: str | None, schema_name: str | None) -> Behaviour | None:
        with self.lock:
            for index, behaviour in enumerate(self.queue):
                if behaviour.matches(model, schema_name):
                    if behaviour.times > 1:
                        self.queue[index] = behaviour.model_copy(
                            update={"times": behaviour.times - 1}
                        )
                    else:
                        del self.queue[index]
                    return behaviour
            return next((d for d in self.defaults if d.matches(model, schema_name)), None)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests read the records instead."""

    def do_GET(self) -> None:
        state = self.server.state
        if self.path == "/_admin/requests":
            with state.lock:
                records = [r.model_dump(mode="json") for r in state.records]
            self._json(HTTPStatus.OK, records)
        elif self.path == "/_admin/health":
            self._json(HTTPStatus.OK, {"ok": True})
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._json(HTTPStatus.BAD_REQUEST, {"error": {"message": "body is not JSON"}})
            return
        if self.path == CHAT_PATH or AZURE_CHAT.fullmatch(self.path):
            self._chat(body)
        elif self.path == "/_admin/script":
            self.server.state.load(Script.model_validate(body))
            self._json(HTTPStatus.OK, {"ok": True})
        elif self.path == "/_admin/reset":
            self.server.state.load(Script(reset=True))
            self._json(HTTPStatus.OK, {"ok": True})
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": {"message": "not found"}})

    def _chat(self, body: dict[str, Any]) -> None:
        state = self.server.state
        record = Recorded(
            path=self.path,
            body=body,
            headers={k.lower(): v for k, v in self.headers.items()},
            arrived_at=time.time(),
            arrived_mono=time.monotonic(),
        )
        with state.lock:
            state.records.append(record)
        rejection = state.rejects(record.body.get("response_format"))
        if rejection is not None:
            status, error = rejection
            record.answer = f"error:{status}"
            self._json(status, {"error": error})
            return
        behaviour = state.take(record.model, record.schema_name)
        if behaviour is None:
            record.answer = f"error:{UNSCRIPTED}"
            error = {"message": "no scripted behaviour", "type": "fake", "code": "fake_unscripted"}
            self._json(UNSCRIPTED, {"error": error})
            return
        record.answer = behaviour.kind + (
            f":{behaviour.status}" if behaviour.kind == "error" else ""
        )
        if behaviour.delay_s and state.stopping.wait(behaviour.delay_s):
            return
        self._perform(behaviour, record)

    def _perform(self, behaviour: Behaviour, record: Recorded) -> None:
        if behaviour.kind == "reply":
            self._json(HTTPStatus.OK, completion(behaviour, record), behaviour.headers)
        elif behaviour.kind == "error":
            error = behaviour.error or {"message": f"fake {behaviour.status}", "type": "fake"}
            self._json(behaviour.status, {"error": error}, behaviour.headers)
        else:
            if behaviour.kind == "hang":
                self.server.state.stopping.wait(behaviour.hang_s)
            self.close_connection = True

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


UNSUPPORTED_SCHEMA = {
    "message": "response_format of type json_schema is not supported by this server",
    "type": "invalid_request_error",
    "param": "response_format",
    "code": "unsupported_response_format",
}


UNSUPPORTED_SCHEMA_KEY = {
    "message": "Additional properties are not allowed ('schema' was unexpected) - "
    "'response_format'",
    "type": "invalid_request_error",
    "param": "response_format",
    "code": None,
}
LLAMA_CPP_REJECTION = {
    "message": "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', "
    "'response_format', 'type'), 'msg': \"Input should be 'text' or 'json_object'\", 'input': "
    "'json_schema', 'ctx': {'expected': \"'text' or 'json_object'\"}}",
    "type": "internal_server_error",
    "param": None,
    "code": None,
}
"""llama-cpp-python's server (0.3.x) to a json_schema response_format, word for word."""


def completion(behaviour: Behaviour, record: Recorded) -> dict[str, Any]:
    """A Chat Completions response body for a ``reply`` behaviour."""
    content = behaviour.content
    text = content if isinstance(content, str) else json.dumps(content)
    payload: dict[str, Any] = {
        "id": f"chatcmpl-fake-{int(record.arrived_mono * 1e6)}",
        "object": "chat.completion",
        "created": int(record.arrived_at),
        "model": record.model or "fake-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": behaviour.refusal},
                "finish_reason": behaviour.finish_reason,
                "logprobs": None,
            }
        ],
    }
    if not behaviour.omit_usage:
        usage = behaviour.usage or {}
        prompt = usage.get("prompt_tokens", len(json.dumps(record.body.get("messages"))) // 4)
        done = usage.get("completion_tokens", max(1, len(text) // 4))
        payload["usage"] = {
            "prompt_tokens": prompt,
            "completion_tokens": done,
            "total_tokens": prompt + done,
        }
    return payload


class FakeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: FakeState) -> None:
        super().__init__(address, Handler)
        self.state = state
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open.discard(request)

    def close_connections(self) -> None:
        """Cut the kept-alive connections too, as a server that went down would."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class FakeOpenAI:
    """The fake server in a background thread of this process."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, supports_json_schema: bool = True,
        llama_cpp: bool = False,
    ) -> None:  # fmt: skip
        self.state = FakeState(supports_json_schema, llama_cpp)
        self._server = FakeHTTPServer((host, port), self.state)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAI:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.state.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def script(self, *behaviours: Behaviour) -> None:
        """Queue behaviours for the next requests, in order."""
        self.state.load(Script(script=list(behaviours)))

    def set_defaults(self, *behaviours: Behaviour) -> None:
        """Answers for requests no queued behaviour matches (first match wins)."""
        self.state.load(Script(defaults=list(behaviours)))

    def reset(self) -> None:
        self.state.load(Script(reset=True))

    @property
    def requests(self) -> list[Recorded]:
        with self.state.lock:
            return list(self.state.records)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible server for tests")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--script", help="JSON file with a Script (script, defaults, ...)")
    parser.add_argument("--no-json-schema", action="store_true", help="reject json_schema")
    args = parser.parse_args(argv)
    fake = FakeOpenAI(args.host, args.port, supports_json_schema=not args.no_json_schema)
    if args.script:
        with open(args.script, encoding="utf-8") as handle:
            fake.state.load(Script.model_validate_json(handle.read()))
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    fake.start()
    print(f"FAKE_OPENAI_URL=http://{args.host}:{fake.port}/v1", flush=True)
    stop.wait()
    fake.stop()


if __name__ == "__main__":
    main()
