"""Starting a service process: settings, logging, Redis, signals, and the worker."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

import structlog
from redis.asyncio import Redis

from shared.agents.agent import AgentStage
from shared.errors import ConfigError
from shared.observability.logging import configure_logging
from shared.observability.observe import Observer
from shared.pipeline.settings import BatonSettings, load_settings
from shared.pipeline.stage import PipelineStage
from shared.runtime import eventloop, heap
from shared.runtime.consumer import Worker
from shared.runtime.redis_client import connect_for

log = structlog.get_logger("baton.service")


StageFactory = Callable[[BatonSettings, Redis], PipelineStage]


async def serve(
    build_stage: StageFactory,
    settings: BatonSettings,
    stop: asyncio.Event,
    observer: Observer | None = None,
) -> None:
    """Build the stage and run it until ``stop`` is set. The caller owns signals and logging.

    Tracing and metrics come from ``observer`` (default: the standard ``OTEL_*`` variables and
    ``BATON_METRICS_PORT``); the stage's LLM calls are traced too.
    """
    if not settings.redis_url:
        raise ConfigError("REDIS_URL is not set (use `baton up`, which starts a Redis for you)")
    redis = connect_for(settings, max_connections=min(settings.concurrency + 8, 256))
    stage = build_stage(settings, redis)
    observer = observer or Observer.from_env(stage.service, settings.metrics_port)
    if isinstance(stage, AgentStage):
        stage.llm = observer.instrument(stage.llm, stage.service)
    worker = Worker(stage, settings, redis, observer)
    gauges_stop = asyncio.Event()
    gauges = asyncio.create_task(
        observer.watch_stream(
            redis, settings.keys, worker.stream, settings.reclaim_interval_s, gauges_stop
        )
    )
    try:
        await worker.run(stop)
    finally:
        gauges_stop.set()  # its connection goes back before the pool closes
        if (await asyncio.wait([gauges], timeout=5))[1]:
            gauges.cancel()
        await stage.aclose()
        observer.tracing.shutdown()
        await redis.aclose()


def run_service(settings_class: type[BatonSettings], build_stage: StageFactory) -> int:
    """Entry point of ``python -m services.<name>``: SIGTERM/SIGINT stop it gracefully."""
    settings = load_settings(settings_class)
    configure_logging(settings)
    heap.tune()

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await serve(build_stage, settings, stop)

    eventloop.run(_main())
    return 0
