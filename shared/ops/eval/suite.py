"""The evaluation suite: customer requests, each with the outcome the pipeline owes it.

A suite is a TOML file (``shared/ops/eval/suites/default.toml`` is the reference one)::

    version = 1

    [[cases]]
    id = "billing-double-charge"
    channel = "email"
    language = "en"
    text = "I was charged twice for my subscription this month."
    tags = ["billing"]

    [cases.expect]
    route = "response"          # or "escalation", with a reason
    category = "billing"        # optional
    priority = ["normal", "high"]  # optional: the band of acceptable priorities
    mode = "answer"             # optional, responses only: answer or clarify
    must_contain = ["invoice"]  # case-insensitive substrings of the reply
    must_not_contain = ["4111"] # never in the reply (or an escalation's packet: see scoring)

The models below are strict (unknown keys are errors) and are the schema: its JSON Schema form is
``shared/ops/eval/suites/suite.schema.json``, generated with ``python -m shared.ops.eval.suite
--write``.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from shared.errors import BatonError
from shared.pipeline.contracts.responder import Mode
from shared.pipeline.contracts.triage import Category, Priority

SUITES_DIR = Path(__file__).parent / "suites"
DEFAULT_SUITE = SUITES_DIR / "default.toml"
SCHEMA_FILE = SUITES_DIR / "suite.schema.json"
MAX_ERRORS_SHOWN = 20

CaseId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{2,63}$")]
Channel = Literal["email", "chat", "web", "api", "phone", "sms"]
EscalationReason = Literal[
    "sensitive_topic",
    "human_requested",
    "low_confidence",
    "prompt_injection_suspected",
    "agent_escalated",
]
Needle = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64)]


def _distinct(values: list[Priority]) -> list[Priority]:
    if len(set(values)) != len(values):
        raise ValueError("lists a priority twice")
    return values


PriorityBand = Annotated[
    list[Priority],
    Field(min_length=1, json_schema_extra={"uniqueItems": True}),
    AfterValidator(_distinct),
]


class SuiteError(BatonError):
    """A suite file that cannot be read or breaks the schema (``baton eval`` exits 2)."""

    reason = "bad_suite"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Expect(_Strict):
    category: Category | None = Field(
        default=None, description="the category triage must choose (unchecked when absent)"
    )
    priority: PriorityBand | None = Field(
        default=None, description="acceptable priorities (a band); unchecked when absent"
    )
    must_contain: list[Needle] = Field(
        default=[], description="case-insensitive substrings the reply (or packet) must contain"
    )
    must_not_contain: list[Needle] = Field(
        default=[],
        description="case-insensitive substrings never to appear in the reply or the escalation "
        "packet (in the packet's copy of the customer's text only personal data counts)",
    )


class ExpectResponse(_Expect):
    """The event must end in ``responses``."""

    route: Literal["response"]
    mode: Mode | None = Field(
        default=None, description="answer, or clarify (ask for details); unchecked when absent"
    )


class ExpectEscalation(_Expect):
    """The event must end in ``escalations``, for this reason."""

    route: Literal["escalation"]
    reason: EscalationReason


Expect = Annotated[ExpectResponse | ExpectEscalation, Field(discriminator="route")]


class Case(_Strict):
    """One customer request and what the pipeline must make of it."""

    id: CaseId = Field(description="unique in the suite; also the event id of the run")
    channel: Channel
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")] = Field(
        description="the language the request is written in (ISO 639-1)"
    )
    text: Annotated[str, StringConstraints(min_length=1, max_length=4000, pattern=r"\S")]
    customer_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    subject: Annotated[str, StringConstraints(max_length=300)] | None = None
    tags: list[Tag] = []
    expect: Expect

    def payload(self) -> dict[str, str]:
        """What a producer would post for this case (the case id is the event id)."""
        data = {
            "text": self.text,
            "channel": self.channel,
            "customer_id": self.customer_id,
            "subject": self.subject,
            "event_id": self.id,
        }
        return {k: v for k, v in data.items() if v is not None}


class Suite(_Strict):
    """A Baton evaluation suite (``baton eval --suite FILE``)."""

    model_config = ConfigDict(title="Baton evaluation suite")

    version: Literal[1]
    cases: Annotated[list[Case], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_ids(self) -> Suite:
        repeated = [i for i, n in Counter(c.id for c in self.cases).items() if n > 1]
        if repeated:
            raise ValueError(f"case ids must be unique; repeated: {', '.join(repeated)}")
        return self


@dataclass(frozen=True)
class LoadedSuite:
    """A suite and where it came from (the digest tells two versions of a file apart)."""

    suite: Suite
    path: Path
    sha256: str

    @property
    def cases(self) -> list[Case]:
        return self.suite.cases


def load_suite(path: Path) -> LoadedSuite:
    """Read and validate a suite file; any problem is a :class:`SuiteError` that names the case
    (by id) and the field."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SuiteError(f"cannot read suite {path}: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SuiteError(f"{path}: not valid TOML: {exc}") from exc
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        raise SuiteError(describe_errors(path, data, exc)) from exc
    return LoadedSuite(suite, path, hashlib.sha256(raw).hexdigest())


def describe_errors(path: Path, data: dict[str, Any], exc: ValidationError) -> str:
    """One line per problem: ``case 'billing-01' (cases[3]) expect.reason: Field required``."""
    errors = exc.errors(include_url=False)
    lines = [f"{path}: {len(errors)} problem(s) with the suite"]
    for error in errors[:MAX_ERRORS_SHOWN]:
        lines.append(f"  {_where(data, error['loc'])}: {error['msg']}")
    if len(errors) > MAX_ERRORS_SHOWN:
        lines.append(f"  ... and {len(errors) - MAX_ERRORS_SHOWN} more")
    return "\n".join(lines)


def _where(data: dict[str, Any], loc: tuple[int | str, ...]) -> str:
    if len(loc) >= 2 and loc[0] == "cases" and isinstance(loc[1], int):
        cases = data.get("cases")
        case = cases[loc[1]] if isinstance(cases, list) and loc[1] < len(cases) else None
        case_id = case.get("id") if isinstance(case, dict) else None
        label = f"case {case_id!r} (cases[{loc[1]}])" if case_id else f"cases[{loc[1]}]"
        # pydantic names the union member it tried ("escalation") after "expect": noise here
        rest = [str(p) for i, p in enumerate(loc[2:], 2) if not _is_union_tag(loc, i)]
        return f"{label} {'.'.join(rest)}" if rest else label
    return ".".join(str(p) for p in loc) or "suite"


def _is_union_tag(loc: tuple[int | str, ...], index: int) -> bool:
    return loc[index - 1] == "expect" and loc[index] in ("response", "escalation")


def json_schema() -> str:
    """The suite's JSON Schema (draft 2020-12), as committed in ``suite.schema.json``."""
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **Suite.model_json_schema(),
    }
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    """``python -m shared.ops.eval.suite [--write]``: print (or write) the JSON Schema."""
    if argv == ["--write"]:
        SCHEMA_FILE.write_text(json_schema())
        print(f"wrote {SCHEMA_FILE}")
        return 0
    if argv:
        print("usage: python -m shared.ops.eval.suite [--write]", file=sys.stderr)
        return 2
    sys.stdout.write(json_schema())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
