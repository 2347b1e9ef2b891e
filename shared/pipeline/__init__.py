"""The pipeline layer: the declared topology (agents, contracts, routes) and what derives."""

from shared.pipeline.spec import (
    DLQ,
    ESCALATIONS,
    HANDOFFS,
    RESPONSES,
    TERMINALS,
    VALIDATOR,
    AgentSpec,
    Pipeline,
)

__all__ = [
    "DLQ",
    "ESCALATIONS",
    "HANDOFFS",
    "RESPONSES",
    "TERMINALS",
    "VALIDATOR",
    "AgentSpec",
    "Pipeline",
]
