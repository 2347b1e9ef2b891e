"""The reference pipeline, declared once: intake -> triage -> responder, each output checked and
routed by the validator. Streams, consumer groups, Redis users, the validator's contracts, checks
and routes, the bench's and the eval's stages all derive from this declaration (see
shared.pipeline.spec). Adding an agent is its folder under services/, its contracts and one entry.
"""

from __future__ import annotations

from services import packet
from services.intake import checks as intake_checks
from services.intake import routing as intake_routing
from services.intake.prompts import SCREEN_SYSTEM
from services.responder import checks as responder_checks
from services.responder import routing as responder_routing
from services.responder.prompts import RESPONDER_SYSTEM
from services.triage import checks as triage_checks
from services.triage import routing as triage_routing
from services.triage.prompts import TRIAGE_SYSTEM
from shared.agents.prompting import LEAK_MARKERS, UNTRUSTED_NOTICE
from shared.pipeline import ESCALATIONS, RESPONSES, AgentSpec, Pipeline
from shared.pipeline.contracts import (
    CustomerRequest,
    IntakeResult,
    ResponderRequest,
    ResponderResult,
    TriageRequest,
    TriageResult,
)

PIPELINE = Pipeline(
    agents=(
        AgentSpec(
            "intake",
            CustomerRequest,
            IntakeResult,
            routes=("triage", ESCALATIONS),
            check=intake_checks.check,
            route=intake_routing.route,
            prompts=(SCREEN_SYSTEM, UNTRUSTED_NOTICE),
        ),
        AgentSpec(
            "triage",
            TriageRequest,
            TriageResult,
            routes=("responder", ESCALATIONS),
            check=triage_checks.check,
            route=triage_routing.route,
            prompts=(TRIAGE_SYSTEM, UNTRUSTED_NOTICE),
        ),
        AgentSpec(
            "responder",
            ResponderRequest,
            ResponderResult,
            routes=(RESPONSES, ESCALATIONS),
            check=responder_checks.check,
            route=responder_routing.route,
            prompts=(RESPONDER_SYSTEM, UNTRUSTED_NOTICE),
        ),
    ),
    summarise=packet.summarise,
    markers=LEAK_MARKERS,
)
