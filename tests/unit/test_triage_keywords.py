"""KeywordIndex finds exactly what the whole-word patterns it replaces would find."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from services.triage.keywords import KeywordIndex, leading_word, whole_word
from services.triage.rules import HIGH, KEYWORDS, URGENT
from shared.ops.cli.demo import DEMO_EVENTS

SUITE = Path(__file__).parents[2] / "shared" / "ops" / "eval" / "suites" / "default.toml"
TRICKY = [
    "I have an issue with my charger, not a firewall problem; happy otherwise, against it.",
    "Bills, billing, billed; the APP crashed and crashes; apply now; refunds refunded",
    "No funciona el envío del paquete; mot de passe oublié; doesn't work, not working!",
    "Money back? money-back; log in / log-in / login; 2FA 2fas; error 500 500s 5000",
    "the service is down for everyone, right now, URGENTLY; déjà vu, contraseñas",
    "money backs, money backing, moneyback, xmoney back, money back_, money back2, émoney back",
    "money\nback; money  back; Money Back; doesn't works; doesn'tworking; sign-in; sign ins",
    "mot de passes, mot de passé, demot de passe, log inly; log in",
    "charged twicely - all customersly; double  charged; third timed",
    "",
]


def corpus() -> list[str]:
    texts = [e["text"] for e in DEMO_EVENTS if isinstance(e, dict)] + TRICKY
    texts += [case["text"] for case in tomllib.loads(SUITE.read_text())["cases"]]
    return texts


def by_patterns(keywords: dict[str, tuple[str, ...]], lowered: str) -> set[tuple[str, str]]:
    return {
        (label, keyword)
        for label, words in keywords.items()
        for keyword in words
        if whole_word(keyword).search(lowered)
    }


@pytest.mark.parametrize(
    "keywords",
    [{str(c): words for c, words in KEYWORDS.items()}, {"urgent": URGENT}, {"high": HIGH}],
    ids=["categories", "urgent", "high"],
)
def test_index_agrees_with_the_whole_word_patterns_on_every_known_text(
    keywords: dict[str, tuple[str, ...]],
) -> None:
    index = KeywordIndex(keywords)
    for text in corpus():
        lowered = text.lower()
        assert index.found(lowered) == by_patterns(keywords, lowered), text


def test_counts_are_distinct_keywords_per_label() -> None:
    index = KeywordIndex({"billing": ("charge", "charged", "bill"), "other": ("app",)})
    assert index.counts("charged twice, two bills, happy apps") == {"billing": 3, "other": 1}
    assert index.counts("nothing here") == {"billing": 0, "other": 0}
    assert not index.any("nothing here")


@pytest.mark.parametrize(
    ("phrase", "word"),
    [
        ("money back", "money"),
        ("doesn't work", "doesn"),
        ("mot de passe", "mot"),
        ("-log in", "log"),
        ("#1", None),  # the only word ends the phrase, where an ending may extend it
        ("'s", None),
        ("", None),
    ],
)
def test_a_phrase_is_led_by_its_first_word_when_a_non_word_character_follows_it(
    phrase: str, word: str | None
) -> None:
    assert leading_word(phrase) == word


def test_phrases_without_a_leading_word_are_searched_in_every_text() -> None:
    keywords: dict[str, tuple[str, ...]] = {"odd": ("#1", "-x", "a-", "-log in", "é e")}
    index = KeywordIndex(keywords)
    for text in ("#1 and #1s", "a-x -xes a-", "the -log in", "é e", "é es", "nothing"):
        assert index.found(text) == by_patterns(keywords, text), text
