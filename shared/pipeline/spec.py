"""The shape of a pipeline, declared once as typed data.

A :class:`Pipeline` lists its agents in the order events first meet them and, for each, the
contracts it reads and writes and where its validated output may go. Everything that depends on
the shape derives from that one declaration: the services and their streams and consumer groups,
where each service may publish (and so its Redis user), the contracts the validator checks, the
stages the bench and the eval drive. The reference pipeline is ``services.pipeline.PIPELINE``.

Every service reads exactly one stream, named after it, as one consumer group named after it;
the validator, the only router, reads ``handoffs``, where every agent publishes its results.
Producers post to the first agent's stream.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from shared.errors import ConfigError
from shared.pipeline.contracts.base import Contract
from shared.pipeline.keys import DLQ as DLQ
from shared.pipeline.keys import ESCALATIONS as ESCALATIONS
from shared.pipeline.keys import HANDOFFS as HANDOFFS
from shared.pipeline.keys import RESPONSES as RESPONSES
from shared.pipeline.routing import CheckContext, Decision, RouteContext

Out = TypeVar("Out", bound=Contract)

TERMINALS = (RESPONSES, ESCALATIONS)
"""Where a validated output may end, besides another agent."""
VALIDATOR = "validator"
RESERVED = frozenset({HANDOFFS, RESPONSES, ESCALATIONS, DLQ, VALIDATOR, "producer", "operator"})
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@dataclass(frozen=True)
class AgentSpec(Generic[Out]):
    """One agent: its name, its typed contracts, its rules and where its output may go.

    Attributes:
        name: the service, its input stream, its consumer group and its Redis user.
        input: the contract it is given (validated before its handler runs).
        output: the contract it returns (validated, with ``check``, by the validator).
        routes: the agents, or ``responses`` / ``escalations``, its output may be routed to.
        check: its domain checks (see :mod:`shared.pipeline.routing`).
        route: where a valid output goes; only to one of ``routes``.
        prompts: its system prompts, so that no reply may repeat them.
        package: where its worker lives (``<package>.service``: ``SETTINGS`` and
            ``build_stage``); ``services.<name>`` unless given.
    """

    name: str
    input: type[Contract]
    output: type[Out]
    routes: tuple[str, ...]
    check: Callable[[Out, CheckContext], list[str]]
    route: Callable[[Out, RouteContext], Decision]
    prompts: tuple[str, ...] = ()
    package: str = ""

    @property
    def module(self) -> str:
        return self.package or f"services.{self.name}"

    @property
    def model_setting(self) -> str:
        """The settings field naming its model: ``<name>_model`` (``BATON_<NAME>_MODEL``)."""
        return f"{self.name}_model"


@dataclass(frozen=True)
class Pipeline:
    """Agents and their routes; checked when declared (a bad declaration is a ConfigError)."""

    agents: tuple[AgentSpec[Any], ...]
    summarise: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    """What an escalation packet shows of the results so far (summary, scores, the draft...)."""
    markers: tuple[str, ...] = ()
    """Phrases of the pipeline's own (besides each agent's prompts) that no reply may contain."""
    _by_name: dict[str, AgentSpec[Any]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.agents:
            raise ConfigError("a pipeline needs at least one agent")
        by_name: dict[str, AgentSpec[Any]] = {}
        for agent in self.agents:
            if not _NAME.match(agent.name) or agent.name in RESERVED:
                raise ConfigError(
                    f"agent name {agent.name!r}: use a-z, 0-9 and _ (at most 32), "
                    f"not one of {', '.join(sorted(RESERVED))}"
                )
            if agent.name in by_name:
                raise ConfigError(f"agent {agent.name!r} is declared twice")
            by_name[agent.name] = agent
        for agent in self.agents:
            for target in agent.routes:
                if target not in by_name and target not in TERMINALS:
                    raise ConfigError(f"agent {agent.name!r} routes to unknown {target!r}")
            if not agent.routes:
                raise ConfigError(f"agent {agent.name!r} has no route: its output goes nowhere")
        object.__setattr__(self, "_by_name", by_name)
        self._check_reachable()

    def _check_reachable(self) -> None:
        seen, todo = {self.entry.name}, [self.entry]
        while todo:
            for target in todo.pop().routes:
                if target in self._by_name and target not in seen:
                    seen.add(target)
                    todo.append(self._by_name[target])
        unreachable = [a.name for a in self.agents if a.name not in seen]
        if unreachable:
            raise ConfigError(f"no route leads to {', '.join(unreachable)}")
        if not any(t in TERMINALS for a in self.agents for t in a.routes):
            raise ConfigError("no agent routes to responses or escalations: no event could end")

    def __iter__(self) -> Iterator[AgentSpec[Any]]:
        return iter(self.agents)

    @property
    def entry(self) -> AgentSpec[Any]:
        """The agent producers post to."""
        return self.agents[0]

    @property
    def entry_stream(self) -> str:
        """The stream producers post to: the entry agent's."""
        return self.entry.name

    @property
    def agent_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.agents)

    @property
    def services(self) -> tuple[str, ...]:
        """Every service that runs as a consumer group: the agents, then the validator."""
        return (*self.agent_names, VALIDATOR)

    def agent(self, name: str) -> AgentSpec[Any]:
        try:
            return self._by_name[name]
        except KeyError:
            raise ConfigError(
                f"unknown agent {name!r}; expected one of {', '.join(self.agent_names)}"
            ) from None

    def is_agent(self, name: str) -> bool:
        return name in self._by_name

    def checked(self, service: str) -> str:
        """``service``, if it names one of this pipeline's services; else ConfigError."""
        if service not in self.services:
            raise ConfigError(
                f"unknown service {service!r}; expected one of {', '.join(self.services)}"
            )
        return service

    def input_stream(self, service: str) -> str:
        """The name (under the key prefix) of the one stream ``service`` reads."""
        return HANDOFFS if self.checked(service) == VALIDATOR else service

    def publishes(self, service: str) -> tuple[str, ...]:
        """Where ``service`` may publish, besides the dead-letter stream.

        Agents publish their results to ``handoffs``; the validator routes to the agents and
        terminals that some route names, and sends any agent's output back to it (a
        clarification retry).
        """
        if self.checked(service) != VALIDATOR:
            return (HANDOFFS,)
        targets = {t for a in self.agents for t in a.routes} | set(self.agent_names)
        ordered = [*(n for n in self.agent_names if n in targets), *TERMINALS]
        return tuple(ordered)

    def check_context(self) -> CheckContext:
        """Every agent's prompts and the pipeline's markers, for the domain checks."""
        prompts = [p for a in self.agents for p in a.prompts]
        return CheckContext.from_prompts(prompts, self.markers)

    def streams(self) -> tuple[str, ...]:
        """Every stream name: the agents' inputs, handoffs, the terminals and the dead letters."""
        return (*self.agent_names, HANDOFFS, *TERMINALS, DLQ)
