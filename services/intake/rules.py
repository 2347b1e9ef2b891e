"""Intake's offline rules: normalisation, language guess and injection screening, no network."""

from __future__ import annotations

import re
import unicodedata

from services.intake.screening import Screening

_CONTROL = re.compile(
    r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e"
    r"\u2066-\u2069\ufeff]"  # C0 and C1 controls, zero-width and bidi marks, overrides, BOM
)
_SPACES = re.compile(r"[ \t]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)

STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset("the and is my i you to of a in it for not on with this have was are".split()),
    "es": frozenset("el la los las y es mi yo de que en no por con para una un tengo".split()),
    "fr": frozenset("le la les et est mon je de que en pas pour avec une un ai vous".split()),
    "de": frozenset("der die das und ist mein ich nicht zu mit ein eine für habe sie".split()),
    "pt": frozenset("o a os as e é meu eu de que em não por com para uma um tenho".split()),
    "it": frozenset("il lo la gli e è mio io di che in non per con una un ho".split()),
    "nl": frozenset("de het een en is mijn ik niet van dat in voor met heb u".split()),
}  # fmt: skip

INJECTION_PATTERNS: dict[str, re.Pattern[str]] = {
    "override_instructions": re.compile(
        r"\b(ignore|disregard|forget)\b.{0,40}\b(previous|prior|above|all|earlier)\b.{0,20}"
        r"\b(instructions?|rules|prompts?|messages?)\b",
        re.I | re.S,
    ),
    "role_impersonation": re.compile(
        r"(^|\n)\s*(system|assistant|developer)\s*:|<\s*/?\s*system\s*>|\[\s*system\s*\]|"
        r"\byou are now\b|\bact as\b.{0,30}\b(admin|system|developer)\b",
        re.I,
    ),
    "prompt_exfiltration": re.compile(
        r"\b(reveal|show|print|repeat|output|tell me)\b.{0,40}\b(system prompt|prompt|"
        r"instructions|hidden rules)\b",
        re.I | re.S,
    ),
    "routing_manipulation": re.compile(
        r"\b(route|classify|categori[sz]e|set|mark|escalate)\b.{0,40}\b(to|as|with)\b.{0,30}"
        r"\b(priority|urgent|billing|category|queue)\b",
        re.I | re.S,
    ),
    "jailbreak": re.compile(r"\b(jailbreak|DAN mode|developer mode|no restrictions)\b", re.I),
}
# Per pattern, words one of which every match contains (in lower case): when a text, once folded
# (see _fold), contains none of them, neither the text nor any part of it can match the pattern, so
# it is not searched. Keep in step with INJECTION_PATTERNS.
INJECTION_CLUES: dict[str, tuple[str, ...]] = {
    "override_instructions": ("ignore", "disregard", "forget"),
    "role_impersonation": ("system", "assistant", "developer", "you are now", "act as"),
    "prompt_exfiltration": ("prompt", "instructions", "hidden rules"),
    "routing_manipulation": ("priority", "urgent", "billing", "category", "queue"),
    "jailbreak": ("jailbreak", "dan mode", "developer mode", "no restrictions"),
}
# The only characters that re.IGNORECASE equates with an ASCII letter but str.lower() does not
# turn into that letter: dotted capital I, dotless i and long s (the Kelvin sign lower-cases to k).
_IGNORECASE_ALIASES = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s"})
# References (INV-1234, #98765) and amounts. "#" is not a word character, so no \b before it.
FACT = re.compile(r"\b[A-Z]{2,5}-?\d{3,}|(?<!\w)#\d{3,}|\b\d+[.,]\d{2}\s?(?:EUR|USD|GBP|€|\$|£)")
_SIGNAL_WEIGHTS = {
    "override_instructions": 0.6,
    "role_impersonation": 0.5,
    "prompt_exfiltration": 0.5,
    "routing_manipulation": 0.3,
    "jailbreak": 0.5,
}


def normalise(text: str) -> str:
    """NFC, no control or bidi-override characters, tidy whitespace."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = _SPACES.sub(" ", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


def _languages_by_stopword() -> dict[str, tuple[str, ...]]:
    languages: dict[str, tuple[str, ...]] = {}
    for language, stopwords in STOPWORDS.items():
        for word in stopwords:
            languages[word] = (*languages.get(word, ()), language)
    return languages


_STOPWORD_LANGUAGES = _languages_by_stopword()


def guess_language(text: str) -> str:
    """The language with the most stopwords in ``text`` (the first in STOPWORDS on a tie), or
    "en" when there are none."""
    scores = dict.fromkeys(STOPWORDS, 0)
    for word in _WORD.findall(text):
        for language in _STOPWORD_LANGUAGES.get(word.lower(), ()):
            scores[language] += 1
    best = max(scores, key=scores.__getitem__)
    return best if scores[best] > 0 else "en"


def _fold(text: str) -> str:
    """``text`` lower-cased so that wherever an ``re.I`` pattern made of ASCII letters and spaces
    matches ``text``, the pattern in lower case is a substring of the result."""
    if not text.isascii():
        text = text.translate(_IGNORECASE_ALIASES)
    return text.lower()


def injection_suspects(text: str) -> list[tuple[str, re.Pattern[str]]]:
    """The injection patterns (by name, in order) that may match ``text`` or a part of it; the
    others cannot (see INJECTION_CLUES)."""
    folded = _fold(text)
    return [
        (name, pattern)
        for name, pattern in INJECTION_PATTERNS.items()
        if any(clue in folded for clue in INJECTION_CLUES[name])
    ]


def screen_injection(text: str) -> tuple[float, list[str]]:
    signals = [name for name, pattern in injection_suspects(text) if pattern.search(text)]
    risk = min(1.0, sum(_SIGNAL_WEIGHTS[s] for s in signals))
    return round(risk, 2), signals


def combined_risk(model: float, rules: float, model_alone_max: float) -> float:
    """The injection risk intake reports: the higher of the two scores when the deterministic
    screen found a signal; the model's score capped at ``model_alone_max`` when it found none.

    Neither judge is trusted alone the other way round: a model that obeys or misses an
    injection cannot lower the screen's score, and a small model that scores an outage report or
    a legal threat as an attack (seen at 1.0 and 0.9) cannot escalate it on its own.
    """
    if rules > 0:
        return max(model, rules)
    return min(model, model_alone_max)


def summarise(text: str) -> str:
    first = re.split(r"(?<=[.!?])\s+|\n", text, maxsplit=1)[0]
    return first[:240]


def key_facts(text: str) -> list[str]:
    facts = FACT.findall(text)
    return list(dict.fromkeys(f[:200] for f in facts))[:10]


def screen(text: str, injection: tuple[float, list[str]] | None = None) -> Screening:
    """The offline screening; ``injection``: :func:`screen_injection` of ``text``, if known."""
    risk, signals = injection or screen_injection(text)
    return Screening(
        language=guess_language(text),
        injection_risk=risk,
        injection_signals=signals,
        summary=summarise(text),
        key_facts=key_facts(text),
    )
