"""A worker keeps the healthcheck's heartbeat file fresh while it runs and removes it on stop."""

from __future__ import annotations

from pathlib import Path

from services.pipeline import PIPELINE
from shared.ops.embedded import EmbeddedRedis
from shared.pipeline.keys import Keys
from shared.runtime.health import heartbeat_valid
from shared.runtime.redis_client import connect
from tests.helpers import InProcessPipeline, post, wait_for


async def test_a_running_worker_keeps_its_heartbeat_file_valid_and_removes_it_on_stop(
    redis_server: EmbeddedRedis, prefix: str, tmp_path: Path
) -> None:
    path = tmp_path / "triage-heartbeat"

    async def valid() -> bool:
        return heartbeat_valid(path)

    per_service = {"triage": {"heartbeat_file": path}}
    async with InProcessPipeline(redis_server.url, prefix, per_service=per_service):
        await wait_for(valid)
        first = path.read_text()

        async def rewritten() -> bool:
            return heartbeat_valid(path) and path.read_text() != first

        await wait_for(rewritten)  # each heartbeat moves the file's deadline on
    assert not path.exists()


async def test_an_unwritable_heartbeat_file_does_not_stop_the_worker(
    redis_server: EmbeddedRedis, prefix: str, tmp_path: Path
) -> None:
    path = tmp_path / "missing-directory" / "heartbeat"
    keys = Keys(prefix)
    per_service = {name: {"heartbeat_file": path} for name in PIPELINE.services}
    async with InProcessPipeline(redis_server.url, prefix, per_service=per_service):
        redis = connect(redis_server.url)
        try:
            await post(redis, keys, {"text": "My invoice is wrong", "event_id": "hb-1"})

            async def answered() -> bool:
                return await redis.xlen(keys.responses) + await redis.xlen(keys.escalations) == 1

            await wait_for(answered)
        finally:
            await redis.aclose()
    assert not path.exists()
