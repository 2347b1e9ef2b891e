"""What the fake OpenAI server does for a request, and what it recorded (JSON-serialisable models).

A *script* is a queue of :class:`Behaviour`; each request takes the first queued behaviour that
matches it (``model`` / ``schema_name``, when set), and when none does, the first matching
default. Unmatched requests get HTTP 418 (``fake_unscripted``), which the client treats as
permanent, so a missing script fails a test quickly and visibly.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["reply", "error", "hang", "drop"]


class Behaviour(BaseModel):
    """One scripted answer.

    Attributes:
        kind: ``reply`` (a chat completion), ``error`` (an HTTP error), ``hang`` (hold the
            connection without answering for ``hang_s``, then close it), ``drop`` (close the
            connection without answering).
        content: reply content: a dict or list is sent JSON-encoded, a string verbatim.
        usage: ``prompt_tokens`` / ``completion_tokens`` to report (estimated when unset).
        omit_usage: send no ``usage`` object at all.
        finish_reason / refusal: as in the Chat Completions API.
        status / error: the HTTP status and the ``error`` object of an error reply.
        headers: extra response headers (``Retry-After``, ``retry-after-ms``, ...).
        delay_s: wait this long before answering (slow responses).
        model / schema_name: answer only requests for this model / this json_schema name.
        times: how many requests this entry answers before leaving the queue.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Kind = "reply"
    content: Any = None
    usage: dict[str, int] | None = None
    omit_usage: bool = False
    finish_reason: str = "stop"
    refusal: str | None = None
    status: int = 500
    error: dict[str, Any] | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    delay_s: float = Field(default=0.0, ge=0)
    hang_s: float = Field(default=3600.0, ge=0)
    model: str | None = None
    schema_name: str | None = None
    times: int = Field(default=1, ge=1)

    def matches(self, model: str | None, schema_name: str | None) -> bool:
        if self.model is not None and self.model != model:
            return False
        return self.schema_name is None or self.schema_name == schema_name

    @classmethod
    def reply(cls, content: Any, **kw: Any) -> Behaviour:
        return cls(kind="reply", content=content, **kw)

    @classmethod
    def fail(cls, status: int, *, code: str | None = None, **kw: Any) -> Behaviour:
        error = {"message": f"fake error {status}", "type": "fake_error", "code": code}
        return cls(kind="error", status=status, error=kw.pop("error", error), **kw)

    @classmethod
    def rate_limited(cls, retry_after: float | str | None = None, **kw: Any) -> Behaviour:
        headers = dict(kw.pop("headers", {}))
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        return cls.fail(429, code="rate_limit_exceeded", headers=headers, **kw)

    @classmethod
    def hang(cls, seconds: float = 3600.0, **kw: Any) -> Behaviour:
        return cls(kind="hang", hang_s=seconds, **kw)

    @classmethod
    def drop(cls, **kw: Any) -> Behaviour:
        return cls(kind="drop", **kw)


class Script(BaseModel):
    """The body of ``POST /_admin/script`` and the ``--script`` file.

    ``script`` is appended to the queue (after clearing it and the records when ``reset``);
    ``defaults`` and ``supports_json_schema`` replace the server's when given.
    """

    model_config = ConfigDict(extra="forbid")

    script: list[Behaviour] = Field(default_factory=list)
    defaults: list[Behaviour] | None = None
    supports_json_schema: bool | None = None
    reset: bool = False


class Recorded(BaseModel):
    """A request as the server saw it.

    ``arrived_mono`` is this server process's monotonic clock: compare it only with other records
    of the same server. ``answer`` is the behaviour's kind, with the status for errors.
    """

    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    arrived_at: float
    arrived_mono: float
    answer: str = ""

    @property
    def model(self) -> str | None:
        value = self.body.get("model")
        return value if isinstance(value, str) else None

    @property
    def response_format(self) -> str | None:
        """``json_schema``, ``json_object`` or ``None``."""
        fmt = self.body.get("response_format")
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        return kind if isinstance(kind, str) else None

    @property
    def schema_name(self) -> str | None:
        fmt = self.body.get("response_format")
        schema = fmt.get("json_schema") if isinstance(fmt, dict) else None
        name = schema.get("name") if isinstance(schema, dict) else None
        return name if isinstance(name, str) else None

    def message(self, role: str) -> str:
        """The text of the first message with ``role`` ("" if none)."""
        for item in self.body.get("messages", []):
            if isinstance(item, dict) and item.get("role") == role:
                return str(item.get("content", ""))
        return ""
