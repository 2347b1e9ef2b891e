"""Whole-word keyword matching for triage's offline rules, one pass over the text.

A keyword matches as a whole word or phrase with a common ending ("bill" matches "bills" and
"billing", never "billion"): exactly ``(?<!\\w)keyword(s|es|d|ed|ing|ly)?(?!\\w)``. Testing a
hundred such patterns per request was most of triage's time; single-word keywords are instead
looked up among the text's words (a whole-word match is a maximal run of word characters), and
only phrases ("money back", "doesn't work") keep a pattern of their own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Generic, TypeVar

K = TypeVar("K")
ENDINGS = ("", "s", "es", "d", "ed", "ing", "ly")
_WORD = re.compile(r"\w+")


def whole_word(keyword: str) -> re.Pattern[str]:
    """The pattern a keyword stands for (used for phrases, and as the definition)."""
    return re.compile(rf"(?<!\w){re.escape(keyword)}(?:s|es|d|ed|ing|ly)?(?!\w)")


class KeywordIndex(Generic[K]):
    """Keywords grouped under labels; counts, per label, the distinct keywords a text contains."""

    def __init__(self, keywords: Mapping[K, Iterable[str]]) -> None:
        self.labels = tuple(keywords)
        self._forms: dict[str, set[tuple[K, str]]] = {}
        self._phrases: list[tuple[K, str, re.Pattern[str]]] = []
        for label, words in keywords.items():
            for keyword in words:
                if _WORD.fullmatch(keyword):
                    for ending in ENDINGS:
                        self._forms.setdefault(keyword + ending, set()).add((label, keyword))
                else:
                    self._phrases.append((label, keyword, whole_word(keyword)))

    def found(self, lowered: str) -> set[tuple[K, str]]:
        """(label, keyword) for every keyword in ``lowered`` (already lower-cased)."""
        hits: set[tuple[K, str]] = set()
        for word in set(_WORD.findall(lowered)):
            hits.update(self._forms.get(word, ()))
        for label, keyword, pattern in self._phrases:
            if pattern.search(lowered):
                hits.add((label, keyword))
        return hits

    def counts(self, lowered: str) -> dict[K, int]:
        counts = dict.fromkeys(self.labels, 0)
        for label, _ in self.found(lowered):
            counts[label] += 1
        return counts

    def any(self, lowered: str) -> bool:
        return bool(self.found(lowered))
