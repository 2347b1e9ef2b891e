"""PII redaction: emails, phones and Luhn-valid cards go; order numbers, dates, amounts stay."""

from __future__ import annotations

import re

import pytest

from shared.agents.redaction import (
    CARD,
    CARD_MARK,
    DATE,
    EMAIL,
    EMAIL_MARK,
    PHONE,
    PHONE_MARK,
    Redaction,
    contains_pii,
    luhn_valid,
    redact,
)


@pytest.mark.parametrize(
    "email",
    ["jane@example.com", "john.doe+billing@mail.example.co.uk", "A_B-c%d@sub-domain.io"],
)
def test_emails_are_redacted(email: str) -> None:
    result = redact(f"Please write to {email} today.")
    assert result.text == "Please write to [EMAIL] today."
    assert (result.email, result.phone, result.card) == (1, 0, 0)


@pytest.mark.parametrize(
    "phone",
    [
        "+1 415 555 0132",
        "+1-415-555-0132",
        "+14155550132",
        "(415) 555-0132",
        "+1 (415) 555-0132",
        "415-555-0132",
        "415.555.0132",
        "415 555 0132",
        "+44 20 7946 0958",
        "020 7946 0958",
        "07700900123",
        "+33612345678",
        "06 12 34 56 78",
        "+49 30 901820",
        "12.34.56.78.90",
    ],
)
def test_phone_numbers_in_common_formats_are_redacted(phone: str) -> None:
    result = redact(f"Call me on {phone} please.")
    assert result.text == "Call me on [PHONE] please."
    assert (result.email, result.phone, result.card) == (0, 1, 0)


@pytest.mark.parametrize(
    "card",
    [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111111111111111",
        "5500 0000 0000 0004",
        "3782 822463 10005",
        "6011111111111117",
    ],
)
def test_luhn_valid_card_numbers_are_redacted(card: str) -> None:
    result = redact(f"My card {card} was charged.")
    assert result.text == "My card [CARD] was charged."
    assert (result.email, result.phone, result.card) == (0, 0, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 4111 1111 1111 1111 123", "card [CARD] 123"),
        ("card 4111 1111 1111 1111 12/25", "card [CARD] 12/25"),
        ("qty 2 4111 1111 1111 1111", "qty 2 [CARD]"),
    ],
)
def test_card_numbers_next_to_other_digit_groups_are_still_redacted(
    text: str, expected: str
) -> None:
    """A CVV, an expiry month or a quantity beside the number must not hide it."""
    result = redact(text)
    assert (result.text, result.card) == (expected, 1)


@pytest.mark.parametrize(
    "text",
    [
        "4111 1111 1111 1112",
        "4111111111111112",
        "order 1234567890123456",
        "order #12345678",
        "order 12345678",
        "order number 1234567890",
        "ORD-123456789",
        "ticket INC-20240315-0042",
        "tracking 1Z999AA10123456784",
        "invoice 987654321",
    ],
)
def test_luhn_invalid_digit_runs_and_order_numbers_are_kept(text: str) -> None:
    result = redact(text)
    assert result.text == text
    assert result.total == 0


@pytest.mark.parametrize(
    "text",
    [
        "on 2024-03-15",
        "on 2024/03/15",
        "on 15/03/2024",
        "on 15.03.2024",
        "on 03-15-2024",
        "from 2024-03-15 to 2024-03-20",
        "at 2024-03-15 10:30",
        "at 15.03.2024 10:30:59",
        "at 2024-03-15T10:30:00Z",
    ],
)
def test_dates_and_times_are_kept(text: str) -> None:
    result = redact(text)
    assert result.text == text
    assert result.total == 0


@pytest.mark.parametrize(
    "text",
    [
        "$1,234.56",
        "49.99 EUR",
        "€1.299,00",
        "1234.56",
        "USD 12,345,678.90",
        "1.234.567,89 €",
        "12 345,67 €",
        "paid 120.00 and 35.50 and 99.99",
        "version 10.0.19045.2965",
        "ip 192.168.1.1",
    ],
)
def test_amounts_and_version_numbers_are_kept(text: str) -> None:
    result = redact(text)
    assert result.text == text
    assert result.total == 0


def test_every_kind_is_counted_separately() -> None:
    result = redact(
        "a@example.com, b@example.org, +1 415 555 0132 and card 4111 1111 1111 1111 for order "
        "#12345, 49.99 EUR on 2024-03-15"
    )
    assert result.text == (
        "[EMAIL], [EMAIL], [PHONE] and card [CARD] for order #12345, 49.99 EUR on 2024-03-15"
    )
    assert (result.email, result.phone, result.card, result.total) == (2, 1, 1, 4)


def test_redaction_is_idempotent() -> None:
    once = redact("jane@example.com +1 415 555 0132 4111 1111 1111 1111").text
    assert redact(once).text == once
    assert not contains_pii(once)


def test_contains_pii_answers_without_changing_anything() -> None:
    assert contains_pii("write to jane@example.com")
    assert not contains_pii("my order #12345 of 49.99 EUR on 2024-03-15")


@pytest.mark.parametrize(
    ("digits", "valid"),
    [("4111111111111111", True), ("79927398713", True), ("4111111111111112", False),
     ("0", True), ("1", False)],
)  # fmt: skip
def test_luhn_check(digits: str, valid: bool) -> None:
    assert luhn_valid(digits) is valid


def reference_redact(text: str) -> Redaction:
    """The definition: every pattern runs on every text, in turn (redact as first written)."""
    text, emails = EMAIL.subn(EMAIL_MARK, text)
    cards = 0

    def _card(match: re.Match[str]) -> str:
        nonlocal cards
        candidate = match.group()
        groups = list(re.finditer(r"\d+", candidate))
        for size in range(len(groups), 0, -1):
            for first in range(len(groups) - size + 1):
                start, end = groups[first].start(), groups[first + size - 1].end()
                digits = re.sub(r"\D", "", candidate[start:end])
                if 13 <= len(digits) <= 19 and luhn_valid(digits):
                    cards += 1
                    return candidate[:start] + CARD_MARK + candidate[end:]
        return candidate

    text = CARD.sub(_card, text)
    phones = 0

    def _phone(match: re.Match[str]) -> str:
        nonlocal phones
        candidate = match.group()
        digits = re.sub(r"\D", "", candidate)
        if not 7 <= len(digits) <= 15 or DATE.match(candidate):
            return candidate
        separators = len(re.findall(r"[\s.-]", candidate))
        if not (
            candidate.startswith(("+", "("))
            or separators >= 2
            or (separators == 0 and digits.startswith("0") and len(digits) >= 10)
        ):
            return candidate
        phones += 1
        return PHONE_MARK

    text = PHONE.sub(_phone, text)
    return Redaction(text=text, email=emails, phone=phones, card=cards)


PII_PIECES = [
    "",
    "no digits at all",
    "jane@example.com",
    "a@b",
    "meet @ noon",
    "4111111111111111@example.com",  # a card number inside an email goes with the email
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
    "4111 1111 1111 1112",
    "qty 2 4111 1111 1111 1111 123 12/25",
    "\uff14" + "\uff11" * 15,  # full-width digits are digits too
    " ".join(["\u0664\u0661\u0661\u0661"] + ["\u0661" * 4] * 3),  # Arabic-Indic 4111 1111 ...
    "4 2 2 2 2 2 2 2 2 2 2 2 2",
    "123456789012",
    "+1 415 555 0132",
    "(415) 555-0132",
    "415.555.0132",
    "020 7946 0958",
    "07700900123",
    "123456",
    "1234567",
    "123-4567",
    "12 34 56",
    "12.34.56.78.90",
    "2024-03-15 10:30",
    "15.03.2024",
    "49.99 EUR",
    "order #12345678",
    "INV-100123",
    "[EMAIL] [PHONE] [CARD]",
]


@pytest.mark.parametrize("first", PII_PIECES)
def test_redact_and_contains_pii_agree_with_running_every_pattern(first: str) -> None:
    """The shortcuts (no "@", too few digits, first hit) never change an answer."""
    for second in PII_PIECES:
        for text in (f"{first} {second}", f"{first}{second}", f"{first}\n{second}."):
            expected = reference_redact(text)
            assert redact(text) == expected, text
            assert contains_pii(text) is (expected.total > 0), text
