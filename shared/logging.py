"""Structured logs: JSON lines on stdout in containers, readable console output on a terminal.

Log lines carry ids and decisions, never raw event text.
"""

from __future__ import annotations

import logging
import sys
from typing import BinaryIO

import orjson
import structlog

from shared.config import BatonSettings

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}  # fmt: skip


def configure_logging(
    settings: BatonSettings, *, service: str | None = None, to: BinaryIO | None = None
) -> None:
    """Logs go to stdout, or as JSON lines to ``to`` (a file) when given."""
    level = _LEVELS[settings.log_level]
    use_json = (
        to is not None
        or settings.log_format == "json"
        or (settings.log_format == "auto" and not sys.stdout.isatty())
    )
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
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
