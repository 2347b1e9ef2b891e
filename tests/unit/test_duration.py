"""One duration syntax for every option: a number and a unit; a bare number is seconds."""

from __future__ import annotations

import pytest

from shared.ops.cli.duration import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("15m", 900.0),
        ("2h", 7200.0),
        ("7d", 604800.0),
        ("1w", 604800.0),
        ("500ms", 0.5),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        (" 2H ", 7200.0),
        ("90", 90.0),
        ("0.25", 0.25),
    ],
)
def test_a_duration_is_a_number_and_a_unit_or_bare_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "2 hours", "-5m", "2x", "1h-30m", "yesterday"])
def test_anything_else_is_refused_saying_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration: write a number and a unit, like 30s"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.25, "250ms"), (45, "45s"), (90, "1m30s"), (7200, "2h"), (90061, "1d1h1m1s")],
)
def test_durations_are_shown_in_the_same_syntax(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds
