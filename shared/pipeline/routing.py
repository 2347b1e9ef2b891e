"""What an agent's rules tell the validator: the problems with an output, and where it goes next.

Each agent declares two pure functions in the pipeline spec (they live with the agent, in
``services/<agent>/checks.py`` and ``routing.py``):

* ``check(output, CheckContext) -> list[str]``: domain problems a schema cannot express; any
  problem sends the output back to its agent with the problems as feedback.
* ``route(output, RouteContext) -> Decision``: :class:`Forward` to another agent with its typed
  input, :class:`Escalate` to a human, or :class:`Respond` with the final reply. The validator
  refuses a decision the spec does not allow for that agent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.pipeline.contracts.base import Contract
from shared.pipeline.settings import BatonSettings

MIN_FRAGMENT_WORDS = 5
_PLACEHOLDER = re.compile(r"\{[a-z_]*\}")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n\s*-\s+")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Forward:
    """Hand the event to ``target`` (an agent) with ``payload``, its input contract."""

    target: str
    payload: Contract


@dataclass(frozen=True)
class Escalate:
    """End the run with a human; ``reason`` is machine-readable (``low_confidence``...)."""

    reason: str


@dataclass(frozen=True)
class Respond:
    """End the run with ``response``, published to ``responses``."""

    response: Contract


Decision = Forward | Escalate | Respond


@dataclass(frozen=True)
class RouteContext:
    """What a routing rule may look at besides the output itself.

    Attributes:
        event_id: the event.
        results: every validated output so far, this one included, keyed by agent.
        input: the input the agent was given.
        clarifications: how many outputs of this event were sent back so far.
        settings: the validator's settings (thresholds).
    """

    event_id: str
    results: Mapping[str, Mapping[str, Any]]
    input: Mapping[str, Any]
    clarifications: int
    settings: BatonSettings


def flatten(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


@dataclass(frozen=True)
class CheckContext:
    """What a domain check may use besides the output: the pipeline's own prompt text, so that a
    reply repeating any agent's instructions (however reflowed) can be recognised."""

    markers: tuple[str, ...] = ()
    """Short phrases that never belong in a reply (delimiters, each prompt's opening words)."""
    fragments: tuple[str, ...] = field(default=(), repr=False)
    """Every sentence of every system prompt long enough to be unmistakable."""

    @classmethod
    def from_prompts(cls, prompts: Iterable[str], markers: Iterable[str] = ()) -> CheckContext:
        prompts = tuple(prompts)
        openings = [" ".join(flatten(p).split()[:MIN_FRAGMENT_WORDS]) for p in prompts]
        found: list[str] = []
        for prompt in prompts:
            for piece in _PLACEHOLDER.split(prompt):
                for sentence in _SENTENCE_END.split(piece):
                    flat = flatten(sentence).strip("-<>.;:!? ")
                    if len(flat.split()) >= MIN_FRAGMENT_WORDS:
                        found.append(flat)
        marks = [flatten(m) for m in markers] + [o for o in openings if "{" not in o]
        return cls(tuple(dict.fromkeys(marks)), tuple(dict.fromkeys(found)))

    def leaks_instructions(self, text: str) -> bool:
        flat = flatten(text)
        return any(m in flat for m in self.markers) or any(f in flat for f in self.fragments)
