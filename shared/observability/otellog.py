"""OpenTelemetry's own complaints, folded into one JSON warning now and then.

With no collector reachable, the OTLP exporter logs through the standard ``logging`` module, in
plain text, for every span batch it fails to send (and each retry): in a container that breaks
the JSON log lines and buries everything else. :func:`quiet_exports` sends the whole
``opentelemetry`` logger tree through one handler that writes a structlog warning,
``trace_export_failed``, at most once per interval, counting the records it folded in since the
last one. Spans that cannot be exported are dropped; events are never held up by tracing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import structlog

OTEL_LOGGER = "opentelemetry"
DEFAULT_INTERVAL_S = 60.0


class FoldedWarnings(logging.Handler):
    """Writes the first record of each interval as a JSON warning; counts the rest."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(level=logging.WARNING)
        self.interval_s = interval_s
        self._clock = clock
        self._next_at = float("-inf")
        self.folded = 0

    def emit(self, record: logging.LogRecord) -> None:
        now = self._clock()
        if now < self._next_at:
            self.folded += 1
            return
        self._next_at = now + self.interval_s
        error = record.exc_info[1] if record.exc_info else None
        # Looked up here, not at import: at most one line a minute, and it follows the logging
        # set up when it is written.
        structlog.get_logger("baton.tracing").warning(
            "trace_export_failed",
            detail=record.getMessage()[:300],
            error=repr(error)[:300] if error is not None else None,
            source=record.name,
            folded_since_last=self.folded,
            next_in_s=self.interval_s,
        )
        self.folded = 0


def quiet_exports(
    interval_s: float = DEFAULT_INTERVAL_S, clock: Callable[[], float] = time.monotonic
) -> FoldedWarnings:
    """Route the ``opentelemetry`` loggers through one :class:`FoldedWarnings` (replacing any
    installed before); returns it."""
    otel = logging.getLogger(OTEL_LOGGER)
    for handler in list(otel.handlers):
        if isinstance(handler, FoldedWarnings):
            otel.removeHandler(handler)
    handler = FoldedWarnings(interval_s, clock)
    otel.addHandler(handler)
    otel.propagate = False  # never also as plain text through the root logger
    return handler
