"""Parallel branches and their join, declared with the agent whose routing rule fans out.

An agent's routing rule may return :class:`shared.pipeline.routing.FanOut`: one validated output
becomes several branches, each an input of the join's branch agent, run in parallel. The runtime
opens the join in the same fenced commit that publishes the branches and acknowledges the input;
each branch's validated result is recorded in the join by the commit that acknowledges it (once,
however often it is delivered); when the last branch is in, or a branch is dead-lettered and the
rest are in, or the join's deadline passes, the join closes exactly once and the validator hands
its :class:`JoinResult` to the join's ``merge``, whose decision routes the merged input on.

A join that closes with branches missing is *partial*: ``on_partial`` says whether it still goes
to ``merge`` (which sees what is missing and should mark its output partial) or to a human.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from shared.errors import ConfigError
from shared.pipeline.contracts.base import Contract
from shared.pipeline.routing import Decision, RouteContext

C = TypeVar("C", bound=Contract)

MAX_BRANCHES = 32
"""The most branches any join may declare (each branch is one entry of its agent's stream)."""
JOIN_PARTIAL = "join_partial"
"""The escalation reason of a partial join whose spec says ``on_partial="escalate"``."""


@dataclass(frozen=True)
class JoinResult:
    """What a join collected, in branch order.

    Attributes:
        join: the join's name.
        outputs: each branch's validated output (JSON data), ``None`` where it is missing.
        failures: why missing branches failed (dead letter reason, halt, ``deadline``), by index.
        expired: the join's deadline closed it.
        late: branches that arrived after the join closed so far (recorded, never merged).
    """

    join: str
    outputs: tuple[dict[str, Any] | None, ...]
    failures: dict[int, str] = field(default_factory=dict)
    expired: bool = False
    late: int = 0

    @property
    def missing(self) -> tuple[int, ...]:
        return tuple(i for i, out in enumerate(self.outputs) if out is None)

    @property
    def partial(self) -> bool:
        return any(out is None for out in self.outputs)

    def typed(self, contract: type[C]) -> list[C | None]:
        """The outputs as ``contract`` instances (they were validated against it on arrival)."""
        return [None if out is None else contract.model_validate(out) for out in self.outputs]

    def summary(self) -> dict[str, Any]:
        """What the run's results keep of the join (an escalation packet shows it)."""
        return {
            "branches": list(self.outputs),
            "missing": list(self.missing),
            "failures": {str(i): why for i, why in sorted(self.failures.items())},
            "partial": self.partial,
            "expired": self.expired,
        }


Merge = Callable[[JoinResult, RouteContext], Decision]


@dataclass(frozen=True)
class JoinSpec:
    """A join an agent's routing rule may open with ``FanOut(name, payloads)``.

    Attributes:
        name: unique in the pipeline; names the join in run records, metrics and keys.
        branch: the agent that runs every branch (its input contract is each payload's).
        routes: where the merged input may go: agents, ``responses`` or ``escalations``.
        merge: the ordered branch results (and the run so far) to one decision; it may only
            :class:`Forward`, :class:`Escalate` or :class:`Respond`, along ``routes``.
        max_branches: the most branches one fan-out may open (at least 1).
        deadline_s: how long after opening the join closes with whatever is in (partial).
        on_partial: ``continue`` hands a partial result to ``merge``; ``escalate`` sends the
            event to a human with what is missing.
    """

    name: str
    branch: str
    routes: tuple[str, ...]
    merge: Merge
    max_branches: int = 5
    deadline_s: float = 60.0
    on_partial: Literal["continue", "escalate"] = "escalate"


def check_join(
    join: JoinSpec, where: str, agents: Collection[str], terminals: Collection[str]
) -> None:
    """ConfigError unless ``join`` is well declared among ``agents`` and ``terminals``."""
    targets = {*agents, *terminals}
    if join.branch not in agents:
        raise ConfigError(f"{where}: its branches run unknown agent {join.branch!r}")
    if not join.routes:
        raise ConfigError(f"{where} has no route: its merged input goes nowhere")
    for target in join.routes:
        if target not in targets:
            raise ConfigError(f"{where} routes to unknown {target!r}")
    if not 1 <= join.max_branches <= MAX_BRANCHES:
        raise ConfigError(f"{where}: max_branches must be 1 to {MAX_BRANCHES}")
    if join.deadline_s <= 0:
        raise ConfigError(f"{where}: deadline_s must be positive")
    if join.on_partial not in ("continue", "escalate"):
        raise ConfigError(f"{where}: on_partial must be 'continue' or 'escalate'")
