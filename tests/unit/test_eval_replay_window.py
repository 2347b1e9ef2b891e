"""Shadow replay's inputs: the window bounds a user types, and the payload posted for an entry."""

from __future__ import annotations

import json

import pytest

from shared.ops.eval.shadow import ShadowError, replay_payload, stream_bound

NOW = 1_700_000_000.0
MAX_BYTES = 65_536


@pytest.mark.parametrize(
    ("text", "bound"),
    [
        ("1699999000000-3", "1699999000000-3"),
        ("1699999000000", "1699999000000"),
        ("+", "+"),
        ("30m", str(int((NOW - 1800) * 1000))),
        ("2h", str(int((NOW - 7200) * 1000))),
        ("1.5d", str(int((NOW - 1.5 * 86400) * 1000))),
        ("45s", str(int((NOW - 45) * 1000))),
        ("2023-11-14T22:13:20", "1700000000000"),  # UTC unless it says otherwise
        ("2023-11-14T23:13:20+01:00", "1700000000000"),
        ("2023-11-14T22:13:20Z", "1700000000000"),
    ],
)
def test_a_bound_is_a_stream_id_an_age_or_a_time(text: str, bound: str) -> None:
    assert stream_bound(text, now=NOW) == bound


@pytest.mark.parametrize("text", ["yesterday", "10 minutes", "-5m", ""])
def test_anything_else_is_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(ShadowError, match="not a stream id, an age like 30m or 2h, or an ISO"):
        stream_bound(text, now=NOW)


def test_a_payload_without_an_id_gets_the_one_the_live_pipeline_derived() -> None:
    original, posted = replay_payload(b'{"text": "hi there", "channel": "chat"}', "17-0", MAX_BYTES)
    assert original == "evt-17-0"
    assert json.loads(posted) == {"text": "hi there", "channel": "chat", "event_id": "evt-17-0"}


def test_a_payload_with_its_own_id_is_replayed_byte_for_byte() -> None:
    raw = b'{"text": "hi", "event_id": "mine-1"}'
    assert replay_payload(raw, "17-0", MAX_BYTES) == ("mine-1", raw)


@pytest.mark.parametrize(
    "raw", [b'{"text": "truncated', b'{"text": ""}', b'{"text": "a", "event_id": "bad id!"}']
)
def test_an_invalid_payload_is_replayed_as_it_was_to_fail_as_it_did(raw: bytes) -> None:
    original, posted = replay_payload(raw, "17-0", MAX_BYTES)
    assert posted == raw
    assert original == "evt-17-0"
