"""``baton eval`` on the real-model suite, as an operator runs it: the CLI in its own process,
default settings, ``OPENAI_BASE_URL`` pointing at the real model.

Quality thresholds for a 0.5B model are not the point: every case must reach an outcome (none
lost, none dead-lettered) and the report must be complete. The report is saved to
``.baton/realmodel/eval.json``; the committed ``shared/ops/eval/suites/baseline-realmodel.json`` (a
copy of one, beside the offline baseline) is what a change to prompts or models is compared with:
``baton eval --suite shared/ops/eval/suites/realmodel.toml --baseline
shared/ops/eval/suites/baseline-realmodel.json`` with ``OPENAI_BASE_URL`` at the server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.ops.embedded import EmbeddedRedis
from tests.realmodel.conftest import ModelServer

# A 0.5B model on two CPU cores takes 10-60 s an event: far past the suite's default timeout.
pytestmark = [pytest.mark.realmodel, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "shared" / "ops" / "eval" / "suites" / "realmodel.toml"
REPORT = ROOT / ".baton" / "realmodel" / "eval.json"


def test_eval_on_the_real_model_suite_reaches_an_outcome_for_every_case(
    redis_server: EmbeddedRedis, model_server: ModelServer
) -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BATON_", "OPENAI_", "OTEL_"))
    }
    env |= {"OPENAI_BASE_URL": model_server.base_url, "REDIS_URL": redis_server.url}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("baton")), "eval", "--suite", str(SUITE),
         "--concurrency", "1", "--timeout", "300", "--save", str(REPORT)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(REPORT.read_text())
    outcome = report["outcome"]
    assert outcome["cases"] == 12
    assert outcome["lost"] == 0
    assert outcome["dead_lettered"] == 0
    assert outcome["routes"]["response"] + outcome["routes"]["escalation"] == 12
    # The server answers json_schema with a 500: had negotiation failed, every event would have
    # been dead-lettered as llm_error; every model reply kept its contract (the schema enforced).
    assert outcome["contract_pass_rate"] >= 0.95
