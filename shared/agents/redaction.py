"""PII detection and redaction: emails, phone numbers and payment card numbers.

Used by intake (before any LLM sees the text), by the validator (no PII may leave in a reply) and by
logging. Card numbers are only redacted when they pass the Luhn check, so order numbers survive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
PHONE = re.compile(
    r"(?<![\w+#/.-])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,5}(?:[\s.-]?\d{2,5}){1,4}"
    r"(?![\w/-]|:\d)"  # not glued to a word, a path or a time of day (2024-03-15 10:30)
)
DATE = re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}$|^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}$")

# Fewest digits in a card number and in a phone number: texts with fewer skip their patterns.
CARD_MIN_DIGITS = 13
PHONE_MIN_DIGITS = 7
_NON_DIGITS = re.compile(r"\D+")
_DIGIT_GROUP = re.compile(r"\d+")
_SEPARATOR = re.compile(r"[\s.-]")

EMAIL_MARK = "[EMAIL]"
CARD_MARK = "[CARD]"
PHONE_MARK = "[PHONE]"


@dataclass(frozen=True)
class Redaction:
    text: str
    email: int = 0
    phone: int = 0
    card: int = 0

    @property
    def total(self) -> int:
        return self.email + self.phone + self.card


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def redact(text: str) -> Redaction:
    """Replace every email, Luhn-valid card number and phone number with a marker."""
    emails = 0
    if "@" in text:  # every email has one
        text, emails = EMAIL.subn(EMAIL_MARK, text)
    digits = _digit_count(text)  # the card markers below remove digits, never add any
    cards = phones = 0
    if digits >= CARD_MIN_DIGITS:
        text, cards = _redact_cards(text)
    if digits >= PHONE_MIN_DIGITS:
        text, phones = _redact_phones(text)
    return Redaction(text=text, email=emails, phone=phones, card=cards)


def contains_pii(text: str) -> bool:
    """Whether :func:`redact` would replace anything in ``text``, without building its text."""
    if "@" in text and EMAIL.search(text):
        return True
    # With no email, redact runs the card pattern on ``text`` itself, and with no card either,
    # the phone pattern too.
    digits = _digit_count(text)
    if digits >= CARD_MIN_DIGITS and any(
        _card_span(m.group()) is not None for m in CARD.finditer(text)
    ):
        return True
    return digits >= PHONE_MIN_DIGITS and any(
        _looks_like_phone(m.group()) for m in PHONE.finditer(text)
    )


def _digit_count(text: str) -> int:
    return len(_NON_DIGITS.sub("", text))


def _redact_cards(text: str) -> tuple[str, int]:
    cards = 0

    def _card(match: re.Match[str]) -> str:
        nonlocal cards
        candidate = match.group()
        span = _card_span(candidate)
        if span is None:
            return candidate
        cards += 1
        start, end = span
        return candidate[:start] + CARD_MARK + candidate[end:]

    return CARD.sub(_card, text), cards


def _card_span(candidate: str) -> tuple[int, int] | None:
    """Where the card number is in a match of CARD, if it holds one."""
    # The run may have swallowed neighbouring digit groups (a quantity before, a CVV or an
    # expiry month after): also try every run of whole groups, longest first.
    groups = list(_DIGIT_GROUP.finditer(candidate))
    for size in range(len(groups), 0, -1):
        for first in range(len(groups) - size + 1):
            start, end = groups[first].start(), groups[first + size - 1].end()
            digits = _NON_DIGITS.sub("", candidate[start:end])
            if CARD_MIN_DIGITS <= len(digits) <= 19 and luhn_valid(digits):
                return start, end
    return None


def _redact_phones(text: str) -> tuple[str, int]:
    phones = 0

    def _phone(match: re.Match[str]) -> str:
        nonlocal phones
        if not _looks_like_phone(match.group()):
            return match.group()
        phones += 1
        return PHONE_MARK

    return PHONE.sub(_phone, text), phones


def _looks_like_phone(candidate: str) -> bool:
    digits = _NON_DIGITS.sub("", candidate)
    if not PHONE_MIN_DIGITS <= len(digits) <= 15 or DATE.match(candidate):
        return False
    if candidate.startswith(("+", "(")):
        return True
    separators = len(_SEPARATOR.findall(candidate))
    # A bare run of digits is an order or account number unless it is shaped like a national
    # number (leading 0, 10-11 digits).
    return separators >= 2 or (separators == 0 and digits.startswith("0") and len(digits) >= 10)
