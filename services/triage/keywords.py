"""Whole-word keyword matching for triage's offline rules, one pass over the text.

A keyword matches as a whole word or phrase with a common ending ("bill" matches "bills" and
"billing", never "billion"): exactly ``(?<!\\w)keyword(s|es|d|ed|ing|ly)?(?!\\w)``. Testing a
hundred such patterns per request was most of triage's time; single-word keywords are instead
looked up among the text's words (a whole-word match is a maximal run of word characters), and
only phrases ("money back", "doesn't work") keep a pattern of their own, searched only when the
phrase's leading word is among the text's words (see :func:`leading_word`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Generic, TypeVar

K = TypeVar("K")
ENDINGS = ("", "s", "es", "d", "ed", "ing", "ly")
_WORD = re.compile(r"\w+")
_Phrase = tuple[K, str, re.Pattern[str]]


def whole_word(keyword: str) -> re.Pattern[str]:
    """The pattern a keyword stands for (used for phrases, and as the definition)."""
    return re.compile(rf"(?<!\w){re.escape(keyword)}(?:s|es|d|ed|ing|ly)?(?!\w)")


def leading_word(phrase: str) -> str | None:
    """The word every match of ``whole_word(phrase)`` has as a whole word of the text, if any.

    That is the phrase's first run of word characters when a non-word character follows it inside
    the phrase: the run starts the phrase (where the pattern's ``(?<!\\w)`` applies) or follows a
    non-word character of it, and the endings can only extend the phrase's last run. ``None`` when
    the phrase has no such run ("#1"), so that its pattern is always searched.
    """
    first = _WORD.search(phrase)
    return first.group() if first and first.end() < len(phrase) else None


class KeywordIndex(Generic[K]):
    """Keywords grouped under labels; counts, per label, the distinct keywords a text contains."""

    def __init__(self, keywords: Mapping[K, Iterable[str]]) -> None:
        self.labels = tuple(keywords)
        self._forms: dict[str, set[tuple[K, str]]] = {}
        # Phrases by leading word; those without one (key None) are searched in every text.
        self._phrases: dict[str | None, list[_Phrase[K]]] = {}
        for label, words in keywords.items():
            for keyword in words:
                if _WORD.fullmatch(keyword):
                    for ending in ENDINGS:
                        self._forms.setdefault(keyword + ending, set()).add((label, keyword))
                else:
                    phrase = (label, keyword, whole_word(keyword))
                    self._phrases.setdefault(leading_word(keyword), []).append(phrase)

    def found(self, lowered: str) -> set[tuple[K, str]]:
        """(label, keyword) for every keyword in ``lowered`` (already lower-cased)."""
        hits: set[tuple[K, str]] = set()
        words = set(_WORD.findall(lowered))
        for word in words:
            hits.update(self._forms.get(word, ()))
        for label, keyword, pattern in self._phrases_led_by(words):
            if pattern.search(lowered):
                hits.add((label, keyword))
        return hits

    def _phrases_led_by(self, words: set[str]) -> list[_Phrase[K]]:
        """The phrases that can occur in a text made of ``words``; the others cannot."""
        phrases = list(self._phrases.get(None, ()))
        for word in words.intersection(self._phrases):
            phrases += self._phrases[word]
        return phrases

    def counts(self, lowered: str) -> dict[K, int]:
        counts = dict.fromkeys(self.labels, 0)
        for label, _ in self.found(lowered):
            counts[label] += 1
        return counts

    def any(self, lowered: str) -> bool:
        return bool(self.found(lowered))
