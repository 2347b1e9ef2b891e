"""A stage of a pipeline: the runtime's :class:`~shared.runtime.stage.Stage` over the envelope."""

from __future__ import annotations

from shared.pipeline.envelope import Envelope
from shared.runtime.stage import Stage

PipelineStage = Stage[Envelope]
"""What every service of a pipeline plugs into the runtime: entries decode to envelopes."""
