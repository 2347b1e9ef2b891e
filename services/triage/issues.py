"""Triage's offline rule for a message that makes several requests at once ("I was charged twice,
the app crashes, and please change my delivery address"): one issue per clause that names exactly
one specific category, when the message also says it lists several things (``also``, ``and
please``, a numbered or bulleted list...). Without that cue, keywords of two categories are
usually one request seen from two sides ("the parcel arrived broken"), so it stays one."""

from __future__ import annotations

import re
from collections.abc import Callable

from shared.pipeline.contracts import CATEGORIES, Issue
from shared.pipeline.contracts.triage import MAX_ISSUES, Category

_CLAUSES = re.compile(r"[.;!?]+\s+|,\s+(?:and\s+)?|\s+and\s+(?:also\s+)?|\s+also\s+|\n+")
_SEVERAL = re.compile(
    r"\b(also|as well|another (thing|issue|problem|question)|second(ly)?|third(ly)?|"
    r"on top of that|and please|plus)\b|^\s*(\d+[.)]|[-*•])\s+",
    re.I | re.M,
)
_SUMMARY_CHARS = 200


def issues(text: str, category_hits: Callable[[str], dict[Category, int]]) -> list[Issue]:
    """The distinct requests of ``text`` in the order it makes them; empty when it makes one.
    ``category_hits``: the keyword counts per category of a piece of text."""
    if not _SEVERAL.search(text):
        return []
    found: dict[Category, str] = {}
    for clause in _CLAUSES.split(text):
        clause = clause.strip(" -*•\t")
        hits = category_hits(clause)
        specific = [c for c in CATEGORIES if c != "general" and hits[c]]
        if len(specific) == 1:
            found.setdefault(specific[0], clause[:_SUMMARY_CHARS])
    if len(found) < 2:
        return []
    return [Issue(category=c, summary=s) for c, s in list(found.items())[:MAX_ISSUES]]
