"""``baton bench --quick`` runs end to end: completeness holds and the report has every field.

Speed is never checked here (the machine is shared; the benchmark's targets are read, not
asserted).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from shared.ops.bench.plan import BenchConfig
from shared.ops.bench.report import REQUIRED_FIELDS, missing_fields
from shared.ops.cli.bench import run_bench

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def test_quick_bench_is_complete_and_reports_every_field(tmp_path: Path) -> None:
    config = BenchConfig.quick_config(out_dir=tmp_path)
    result = run_bench(config, Console(file=io.StringIO(), width=150))

    failed = [c for c in result["completeness"] if not c["ok"]]
    assert not failed, failed
    assert result["ok"] is True
    assert missing_fields(result) == [], f"missing: {missing_fields(result)} of {REQUIRED_FIELDS}"
    assert {p["concurrency"] for p in result["llm"]["points"]} == set(config.llm_concurrency)
    assert {t["verdict"] for t in result["targets"]} <= {"PASS", "MISS"}
    (run_dir,) = tmp_path.iterdir()
    for name in ("bench.json", "bench.png", "table.txt"):
        assert (run_dir / name).stat().st_size > 0, name
    assert "Targets" in (run_dir / "table.txt").read_text()
