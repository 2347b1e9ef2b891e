"""The bench chart's optional dependency: without matplotlib, a clear error names the extra."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from shared.ops.bench.chart import ChartUnavailableError, save_chart


def test_chart_without_matplotlib_names_the_bench_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    with pytest.raises(ChartUnavailableError, match=r"baton\[bench\]"):
        save_chart({"meta": {}}, tmp_path / "bench.png")
    assert not (tmp_path / "bench.png").exists()
