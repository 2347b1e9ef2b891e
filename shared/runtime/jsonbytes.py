"""JSON bytes the runtime holds for a while: bodies of calls in flight, fields of queued commits."""

from __future__ import annotations

from typing import Any

import orjson


def compact_json(value: Any) -> bytes:
    """``value`` as JSON, in a bytes object of its own size.

    orjson returns its output in the buffer it grew while writing, which is never smaller than
    4 KiB and can be several times the length of the JSON (32 KiB for 4 KiB). That slack is
    freed with the bytes; for bytes held across an await (an LLM request body, a run-record step
    waiting for its commit batch) it adds up to megabytes per worker, so such bytes are copied
    into an object of their own length.
    """
    return memoryview(orjson.dumps(value)).tobytes()
