"""Structured logs: JSON lines on stdout in containers, readable console output on a terminal.

Log lines carry ids and decisions, never raw event text.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from contextvars import ContextVar, Token
from typing import Any, BinaryIO

import orjson
import structlog

from shared.observability.otellog import quiet_exports
from shared.runtime.settings import LOG_LEVELS, RuntimeSettings

# The ids of the stage attempt the running task works on (event, trace, delivery). One variable
# set once per attempt: binding each key with structlog's contextvars cost more per entry than a
# whole validation, and almost every attempt logs nothing.
_ATTEMPT: ContextVar[MutableMapping[str, Any] | None] = ContextVar("baton_attempt", default=None)


AttemptToken = Token[MutableMapping[str, Any] | None]


def enter_attempt(context: MutableMapping[str, Any]) -> AttemptToken:
    """From now on every log line of this task carries ``context`` (which may still be added
    to), until :func:`leave_attempt` with the token returned."""
    return _ATTEMPT.set(context)


def leave_attempt(token: AttemptToken) -> None:
    _ATTEMPT.reset(token)


def current_attempt() -> MutableMapping[str, Any] | None:
    return _ATTEMPT.get()


def merge_attempt_context(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: add the current attempt's ids (the line's own values win)."""
    context = _ATTEMPT.get()
    if context:
        for key, value in context.items():
            event_dict.setdefault(key, value)
    return event_dict


def configure_logging(
    settings: RuntimeSettings, *, service: str | None = None, to: BinaryIO | None = None
) -> None:
    """Logs go to stdout, or as JSON lines to ``to`` (a file) when given."""
    level = LOG_LEVELS[settings.log_level]
    use_json = (
        to is not None
        or settings.log_format == "json"
        or (settings.log_format == "auto" and not sys.stdout.isatty())
    )
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        merge_attempt_context,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if service:
        structlog.contextvars.bind_contextvars(service=service)
    if use_json:
        processors += [
            structlog.processors.dict_tracebacks,
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ]
        factory: structlog.typing.WrappedLogger = structlog.BytesLoggerFactory(
            to or sys.stdout.buffer
        )
    else:
        processors.append(structlog.dev.ConsoleRenderer())
        factory = structlog.PrintLoggerFactory(sys.stdout)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=max(level, logging.WARNING), stream=sys.stderr)
    quiet_exports()
