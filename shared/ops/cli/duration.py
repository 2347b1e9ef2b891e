"""One way to write a duration on the command line, for every option that takes one:
a number and a unit, ``500ms``, ``30s``, ``15m``, ``2h``, ``7d`` (or ``1h30m``); a bare number
is seconds (``90`` is ``90s``), as the options that took seconds used to read it."""

from __future__ import annotations

import re
from typing import Any

import typer

UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$")
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
METAVAR = "DURATION"
HELP = "like 30s, 15m, 2h or 7d"


def parse_duration(text: str) -> float:
    """Seconds in ``text`` (``30s``, ``2h``, ``1h30m``, ``90``); :class:`ValueError` otherwise."""
    compact = text.strip().lower().replace(" ", "")
    if _NUMBER.match(compact):
        return float(compact)
    if not _WHOLE.match(compact):
        raise ValueError(f"{text!r} is not a duration: write a number and a unit, {HELP}")
    return sum(float(number) * UNITS[unit] for number, unit in _PART.findall(compact))


def duration_option(text: Any) -> float:
    """:func:`parse_duration` as a typer ``parser``: a mistake is a usage error (exit 2)."""
    if isinstance(text, int | float):
        return float(text)
    try:
        return parse_duration(str(text))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def format_duration(seconds: float) -> str:
    """``90`` -> ``1m30s``, ``0.25`` -> ``250ms``: how durations are shown back."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    out, left = "", round(seconds)
    for unit in ("d", "h", "m", "s"):
        size = int(UNITS[unit])
        if left >= size:
            out += f"{left // size}{unit}"
            left %= size
    return out


def duration_opt(help_text: str, *names: str) -> Any:
    """A typer option that takes a duration (``--since 2h``), in seconds to the command."""
    return typer.Option(
        *names, parser=duration_option, metavar=METAVAR, help=f"{help_text} ({HELP})"
    )
