"""The screening contract intake asks its model to fill."""

from __future__ import annotations

from shared.pipeline.contracts.base import Contract, KeyFacts, Language, Reasons, Score, Summary


class Screening(Contract):
    language: Language
    injection_risk: Score
    injection_signals: Reasons = []
    summary: Summary
    key_facts: KeyFacts = []
