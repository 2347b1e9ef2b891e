"""The four real services, as tasks in this process, on a prefix of their own.

Nothing is mocked: each service is :func:`shared.service.serve` with its own ``build_stage`` and
settings, so an evaluation exercises the consumer runtime, the fenced commits, the validator's
routing and the configured LLM provider exactly as production does. Settings come from the
environment (``BATON_*``, ``OPENAI_*``: models, thresholds, budgets) with the evaluation's own
prefix, provider and concurrency on top.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis

import services
from services.pipeline import PIPELINE
from shared.errors import BatonError
from shared.observability.observe import Observer
from shared.pipeline.settings import BatonSettings, LLMProvider, load_settings
from shared.runtime.delivery import as_text
from shared.runtime.redis_client import connect_for
from shared.service import StageFactory, serve

# Stopping after a run waits for the blocking reads and for events still in flight (ones that
# already count as lost); neither changes a decision, so the wait is kept short.
QUICK_STOP = {"block_ms": 250, "shutdown_grace_s": 2.0}
START_TIMEOUT_S = 30.0


class PipelineError(BatonError):
    """A service of the evaluated pipeline failed to start or stopped on its own."""

    reason = "pipeline_failed"


class EvalPipeline:
    """Args:
    url / prefix: the Redis and the key prefix the services use.
    provider: ``offline`` or ``openai``; None keeps the environment's choice.
    concurrency: events in flight per service.
    overrides: more settings for every service (e.g. ``confidence_threshold``).
    stages: a stage factory per service name, instead of the service's own ``build_stage``.
    """

    def __init__(
        self,
        url: str,
        prefix: str,
        *,
        provider: LLMProvider | None = None,
        concurrency: int = 8,
        overrides: Mapping[str, Any] | None = None,
        stages: Mapping[str, StageFactory] | None = None,
    ) -> None:
        values: dict[str, Any] = {**QUICK_STOP, **(overrides or {})}
        values.update(redis_url=url, prefix=prefix, concurrency=concurrency)
        if provider is not None:
            values["llm"] = provider
        self.settings: dict[str, BatonSettings] = {
            name: load_settings(services.load(name).SETTINGS, **values)
            for name in PIPELINE.services
        }
        self.stages = dict(stages or {})
        self.stop = asyncio.Event()
        self.tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def provider(self) -> LLMProvider:
        return self.settings["intake"].llm_provider

    @property
    def models(self) -> dict[str, str]:
        return {
            name: str(getattr(self.settings[name], PIPELINE.agent(name).model_setting))
            for name in PIPELINE.agent_names
        }

    @property
    def max_payload_bytes(self) -> int:
        return self.settings["intake"].max_payload_bytes

    async def __aenter__(self) -> EvalPipeline:
        for name, settings in self.settings.items():
            build = self.stages.get(name) or services.load(name).build_stage
            observer = Observer.disabled(name)  # an evaluation exports no traces or metrics
            self.tasks[name] = asyncio.create_task(serve(build, settings, self.stop, observer))
        try:
            await self._wait_ready()
        except BaseException:
            self.stop.set()
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        results = await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        errors = [r for r in results if isinstance(r, Exception)]
        if errors and (not exc or exc[0] is None):  # else the error on its way out says more
            raise PipelineError(f"a service failed: {errors[0]!r}") from errors[0]

    def check(self) -> None:
        """Raise if a service stopped on its own (its error, when it had one)."""
        for name, task in self.tasks.items():
            if task.done():
                error = None if task.cancelled() else task.exception()
                raise PipelineError(f"the {name} service stopped: {error!r}") from error

    async def _wait_ready(self) -> None:
        """Until every service's consumer group exists (or one of them failed)."""
        redis = connect_for(self.settings["validator"], max_connections=2)
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while not await self._groups_exist(redis):
                self.check()
                if time.monotonic() > deadline:
                    raise PipelineError(f"services not ready within {START_TIMEOUT_S:.0f}s")
                await asyncio.sleep(0.02)
        finally:
            await redis.aclose()

    async def _groups_exist(self, redis: Redis) -> bool:
        for name, settings in self.settings.items():
            stream = settings.keys.stream(PIPELINE.input_stream(name))
            if not await redis.exists(stream):
                return False
            groups = await redis.xinfo_groups(stream)
            if not any(as_text(g["name"]) == name for g in groups):
                return False
        return True
