"""The example answer shown in plain JSON mode: a valid instance of each agent's contract."""

from __future__ import annotations

from typing import Annotated

import orjson
import pytest
from pydantic import BaseModel, StringConstraints

from services.intake.screening import Screening
from shared.agents.llm.example import example_answer
from shared.pipeline.contracts.responder import ResponderResult
from shared.pipeline.contracts.triage import TriageResult


@pytest.mark.parametrize("contract", [Screening, TriageResult, ResponderResult])
def test_each_agent_contract_has_an_example_that_the_contract_accepts(
    contract: type[BaseModel],
) -> None:
    example = example_answer(contract)
    assert example is not None
    contract.model_validate(orjson.loads(example))
    assert set(orjson.loads(example)) == set(contract.model_fields), "every field is shown"


def test_a_contract_no_example_can_satisfy_gets_none() -> None:
    class Code(BaseModel):
        code: Annotated[str, StringConstraints(pattern=r"^Z{3}$")]

    assert example_answer(Code) is None
