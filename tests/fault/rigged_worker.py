"""A real service with a fault rigged on marked events, for fault tests only.

``python -m tests.fault.rigged_worker SERVICE`` runs ``services.SERVICE`` exactly as its own
``__main__`` does (settings, logging, signals, the consumer runtime), with its stage wrapped so that
events whose ``event_id`` or text contains ``FAULT_MARKER`` misbehave as ``FAULT_MODE`` says:

* ``fail``: the handler raises on every delivery (a poison event);
* ``crash``: the process dies on the spot (``os._exit(70)``, as a segfault or an OOM kill would),
  on every delivery;
* ``hold``: on the first delivery the handler logs ``fault_holding`` (with the event id and pid)
  and waits up to ``FAULT_HOLD_S`` seconds: a stuck LLM call. Later deliveries are handled
  normally. With ``FAULT_HOLD_STUBBORN=1`` the hold ignores being cancelled (the runtime abandons
  an event a peer took over, or one still running when the shutdown grace ends), like a call that
  cannot be interrupted, and finishes the event anyway: its stale commit is then attempted and
  must be fenced off.

``FAULT_SLOW_S`` (any mode, every event) adds that much handling time, to keep events in flight.
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis

import services
from shared.pipeline.envelope import Envelope
from shared.pipeline.settings import BatonSettings
from shared.pipeline.stage import PipelineStage
from shared.runtime.delivery import Delivery
from shared.runtime.outcome import Outcome
from shared.service import run_service
from tests.helpers import DelegatingStage

log = structlog.get_logger("baton.fault")


@dataclass(frozen=True)
class Rig:
    mode: str = ""
    marker: str = ""
    hold_s: float = 60.0
    slow_s: float = 0.0
    stubborn: bool = False

    @classmethod
    def from_env(cls) -> Rig:
        return cls(
            mode=os.environ.get("FAULT_MODE", ""),
            marker=os.environ.get("FAULT_MARKER", ""),
            hold_s=float(os.environ.get("FAULT_HOLD_S", "60")),
            slow_s=float(os.environ.get("FAULT_SLOW_S", "0")),
            stubborn=os.environ.get("FAULT_HOLD_STUBBORN") == "1",
        )

    def marks(self, envelope: Envelope) -> bool:
        if not self.marker:
            return False
        text = envelope.payload.get("text")
        return self.marker in envelope.event_id or (isinstance(text, str) and self.marker in text)


class RiggedError(RuntimeError):
    """The rigged failure of a poison event."""


class RiggedStage(DelegatingStage):
    """Wraps a real stage; only marked events (and ``slow_s``) behave differently."""

    def __init__(self, inner: PipelineStage, rig: Rig) -> None:
        super().__init__(inner)
        self.rig = rig

    async def handle(self, envelope: Envelope, delivery: Delivery) -> Outcome:
        if self.rig.slow_s:
            await asyncio.sleep(self.rig.slow_s)
        if self.rig.marks(envelope):
            if self.rig.mode == "crash":
                log.info("fault_crashing", event_id=envelope.event_id, delivery=delivery.count)
                os._exit(70)
            if self.rig.mode == "fail":
                log.info("fault_failing", event_id=envelope.event_id, delivery=delivery.count)
                raise RiggedError(f"rigged failure of {envelope.event_id}")
            if self.rig.mode == "hold" and delivery.count == 1:
                await self._hold(envelope, delivery)
        return await self.inner.handle(envelope, delivery)

    async def _hold(self, envelope: Envelope, delivery: Delivery) -> None:
        log.info("fault_holding", event_id=envelope.event_id, entry_id=delivery.entry_id,
                 pid=os.getpid())  # fmt: skip
        try:
            await asyncio.sleep(self.rig.hold_s)
        except asyncio.CancelledError:
            if not self.rig.stubborn:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            log.info("fault_hold_abandoned_finishing_anyway", event_id=envelope.event_id)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.fault.rigged_worker SERVICE", file=sys.stderr)
        return 2
    module = services.load(argv[0])
    rig = Rig.from_env()

    def build(settings: BatonSettings, redis: Redis) -> PipelineStage:
        return RiggedStage(module.build_stage(settings, redis), rig)

    return run_service(module.SETTINGS, build)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
