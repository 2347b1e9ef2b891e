"""``baton status`` at any width: names and numbers whole, events/s and outcomes shown."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from services.pipeline import PIPELINE
from shared.ops.embedded import EmbeddedRedis
from tests.fault.processes import worker_env
from tests.integration.up_process import baton


@pytest.mark.parametrize("width", [40, 80, 200])
async def test_status_fits_the_width_without_cutting_names(
    redis_server: EmbeddedRedis, prefix: str, tmp_path: Path, width: int
) -> None:
    env = worker_env(redis_server.url, prefix, {"COLUMNS": str(width)})
    assert (await baton(tmp_path, env, "post", "my invoice is wrong"))[0] == 0
    code, output = await baton(tmp_path, env, "status")
    assert code == 0, output
    assert max(len(line) for line in output.splitlines()) <= width, output
    assert "…" not in output
    for name in PIPELINE.streams():
        assert name in output
    words = " ".join(output.split())  # as read, however the lines wrap
    assert "outcomes: responses 0 · escalations 0 · dead letters 0" in words
    assert "events/s (last 10 s): in 0.1, out 0.0" in words


async def test_status_json_counts_recent_events_per_second(
    redis_server: EmbeddedRedis, prefix: str, tmp_path: Path
) -> None:
    env = worker_env(redis_server.url, prefix)
    for text in ("one", "two"):
        assert (await baton(tmp_path, env, "post", text))[0] == 0
    code, output = await baton(tmp_path, env, "status", "--json")
    assert code == 0, output
    intake = next(s for s in orjson.loads(output) if s["name"] == "intake")
    assert (intake["length"], intake["events_per_s"]) == (2, 0.2)


async def test_status_watch_takes_a_duration(
    redis_server: EmbeddedRedis, prefix: str, tmp_path: Path
) -> None:
    env = worker_env(redis_server.url, prefix)
    code, output = await baton(tmp_path, env, "status", "--watch", "soon")
    assert code == 2
    assert "'soon' is not a duration: write a number and a unit, like 30s" in output
