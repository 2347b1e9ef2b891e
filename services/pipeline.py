"""The reference pipeline, declared once: intake -> triage -> responder, each output checked and
routed by the validator. A message that makes several requests fans out at triage: the responder
answers each issue in parallel (the join ``issues``) and the composer merges the drafts. A
sensitive or borderline triage decision goes to a review panel (the join ``panel``).
Streams, consumer groups, Redis users, the validator's contracts, checks
and routes, the bench's and the eval's stages all derive from this declaration (see
shared.pipeline.spec). Adding an agent is its folder under services/, its contracts and one entry.
"""

from __future__ import annotations

from services import packet
from services.composer import checks as composer_checks
from services.composer import routing as composer_routing
from services.composer.prompts import COMPOSER_SYSTEM
from services.intake import checks as intake_checks
from services.intake import routing as intake_routing
from services.intake.prompts import SCREEN_SYSTEM
from services.responder import checks as responder_checks
from services.responder import routing as responder_routing
from services.responder.prompts import RESPONDER_SYSTEM
from services.reviewer import checks as reviewer_checks
from services.reviewer import routing as reviewer_routing
from services.reviewer.prompts import REVIEWER_SYSTEM, STANCES
from services.triage import checks as triage_checks
from services.triage import routing as triage_routing
from services.triage.prompts import TRIAGE_SYSTEM
from shared.agents.prompting import LEAK_MARKERS, UNTRUSTED_NOTICE
from shared.pipeline import ESCALATIONS, RESPONSES, AgentSpec, Pipeline
from shared.pipeline.contracts import (
    ComposerRequest,
    ComposerResult,
    CustomerRequest,
    IntakeResult,
    Opinion,
    ResponderRequest,
    ResponderResult,
    ReviewRequest,
    TriageRequest,
    TriageResult,
)
from shared.pipeline.contracts.review import MAX_PANELISTS
from shared.pipeline.contracts.triage import MAX_ISSUES
from shared.pipeline.join import JoinSpec

ISSUES = JoinSpec(
    triage_routing.ISSUES,
    branch="responder",
    routes=("composer", ESCALATIONS),
    merge=composer_routing.merge,
    max_branches=MAX_ISSUES,
    deadline_s=300.0,
    on_partial="continue",  # the composer says which issues the team will follow up on
)

PANEL = JoinSpec(
    triage_routing.PANEL,
    branch="reviewer",
    routes=("responder", ESCALATIONS),
    merge=reviewer_routing.merge,
    max_branches=MAX_PANELISTS,
    deadline_s=120.0,
    on_partial="escalate",  # a verdict needs every opinion
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
            joins=(ISSUES, PANEL),
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
        AgentSpec(
            "composer",
            ComposerRequest,
            ComposerResult,
            routes=(RESPONSES, ESCALATIONS),
            check=composer_checks.check,
            route=composer_routing.route,
            prompts=(COMPOSER_SYSTEM, UNTRUSTED_NOTICE),
        ),
        AgentSpec(
            "reviewer",
            ReviewRequest,
            Opinion,
            routes=(ESCALATIONS,),  # a panelist's opinion goes to its join, not along a route
            check=reviewer_checks.check,
            route=reviewer_routing.route,
            prompts=(REVIEWER_SYSTEM, *STANCES, UNTRUSTED_NOTICE),
        ),
    ),
    summarise=packet.summarise,
    markers=LEAK_MARKERS,
)
