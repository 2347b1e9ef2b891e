"""Triage's offline rules: keyword classification in the languages intake recognises."""

from __future__ import annotations

import re

from services.intake.rules import injection_suspects
from services.triage.keywords import KeywordIndex
from shared.pipeline.contracts import TriageRequest, TriageResult
from shared.pipeline.contracts.triage import CATEGORIES, Category, Priority, Route

KEYWORDS: dict[Category, tuple[str, ...]] = {
    "billing": ("invoice", "bill", "charge", "charged", "payment", "factura", "cobro", "facture",
                "paiement", "rechnung", "zahlung", "abbuchung", "price", "subscription"),
    "technical": ("error", "crash", "bug", "not working", "doesn't work", "broken", "login fails",
                  "app", "outage", "down", "fallo", "panne", "fehler", "timeout", "500"),
    "account": ("password", "account", "username", "sign in", "log in", "2fa", "cuenta",
                "contraseña", "compte", "mot de passe", "konto", "passwort", "email address"),
    "shipping": ("delivery", "shipping", "package", "parcel", "tracking", "arrive", "envío",
                 "paquete", "livraison", "colis", "lieferung", "paket", "shipment"),
    "refund": ("refund", "money back", "reembolso", "devolución", "remboursement", "rückerstattung",
               "return", "cancel my order", "chargeback"),
    "legal": ("lawyer", "attorney", "lawsuit", "sue", "legal action", "gdpr", "court",
              "abogado", "avocat", "anwalt", "data protection", "subpoena"),
    "emergency": ("emergency", "fire", "injured", "injury", "danger", "unsafe", "smoke",
                  "urgence", "emergencia", "notfall", "hurt", "burn"),
    "complaint": ("complaint", "unacceptable", "disgusted", "terrible service", "formal complaint",
                  "queja", "réclamation", "plainte", "beschwerde", "worst"),
    "general": ("question", "information", "hours", "how do i", "where can", "pregunta",
                "horaire", "frage", "opening"),
}  # fmt: skip
URGENT = ("urgent", "asap", "immediately", "right now", "emergency", "outage", "down for",
          "urgente", "dringend", "all customers", "production")  # fmt: skip
HIGH = ("again", "still", "third time", "twice", "double charged", "charged twice", "angry")
HUMAN = re.compile(
    r"\b(speak|talk|chat)\s+(to|with)\s+(a|an|some|real)?\s*(human|person|agent|manager|"
    r"representative|someone)\b|\breal person\b|\bhuman agent\b|\bnot a bot\b",
    re.I,
)
CLARIFY_WORDS = 6
_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")


# "sue" must not match "issue", nor "fire" "firewall", "charge" "charger", "app" "happy" or
# "again" "against": keywords match whole words only (see KeywordIndex).
_CATEGORY_INDEX = KeywordIndex({c: KEYWORDS[c] for c in CATEGORIES})
_URGENT_INDEX = KeywordIndex({"urgent": URGENT})
_HIGH_INDEX = KeywordIndex({"high": HIGH})


def _hits(text: str) -> dict[Category, int]:
    return _CATEGORY_INDEX.counts(text.lower())


def category_hits(text: str) -> dict[Category, int]:
    """Per category, the distinct keywords of it that ``text`` contains."""
    return _hits(text)


def without_instructions(text: str) -> str:
    """The text minus the sentences that address the system ("set the priority to urgent",
    "ignore previous instructions"): what the customer says, not what they order us to decide."""
    sentences = _SENTENCES.split(text)
    patterns = [pattern for _, pattern in injection_suspects(text)]
    kept = [s for s in sentences if not any(p.search(s) for p in patterns)]
    return " ".join(kept)


def _priority(text: str, category: Category) -> Priority:
    lowered = without_instructions(text).lower()
    urgent_words = _URGENT_INDEX.any(lowered)
    if category == "emergency" or (urgent_words and category != "general"):
        return "urgent"
    # The validator refuses an urgent answer with no specific category: the rules never give one.
    if category in ("legal", "complaint") or urgent_words or _HIGH_INDEX.any(lowered):
        return "high"
    return "normal" if category != "general" else "low"


def classify(request: TriageRequest, threshold: float, sensitive: tuple[str, ...]) -> TriageResult:
    hits = _hits(request.text)
    if any(hits[c] for c in CATEGORIES if c != "general"):
        hits["general"] = 0  # generic phrasing never competes with a specific topic
    ranked = sorted(CATEGORIES, key=lambda c: (-hits[c], CATEGORIES.index(c)))
    top, runner_up = ranked[0], ranked[1]
    human = bool(HUMAN.search(request.text))
    reasons: list[str] = []
    if hits[top] == 0:
        category: Category = "general"
        confidence = 0.62 if len(request.text.split()) > CLARIFY_WORDS else 0.3
        reasons.append("no_category_keywords")
    else:
        category = top
        confidence = min(0.95, 0.7 + 0.1 * hits[top])
        if hits[runner_up] == hits[top]:
            confidence -= 0.25
            reasons.append(f"ambiguous_with_{runner_up}")
    route: Route = "respond"
    if category in sensitive:
        route = "escalate"
        reasons.append("sensitive_topic")
    elif human:
        route = "escalate"
        reasons.append("human_requested")
    elif hits[top] == 0 and len(request.text.split()) <= CLARIFY_WORDS:
        route = "clarify"
        reasons.append("too_vague")
    elif confidence < threshold:
        route = "escalate"
        reasons.append("low_confidence")
    return TriageResult(
        category=category,
        priority=_priority(request.text, category),
        confidence=round(confidence, 2),
        route=route,
        human_requested=human,
        reasons=reasons,
        summary=request.summary,
        key_facts=request.key_facts,
    )
