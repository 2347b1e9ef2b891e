"""The stream runtime: it reads, runs a :class:`~shared.runtime.stage.Stage` on each entry, and
commits every outcome through the fenced commit, retrying, reclaiming and dead-lettering as needed.

Public surface: :class:`~shared.runtime.consumer.Worker`, the :class:`~shared.runtime.stage.Stage`
and :class:`~shared.runtime.hooks.Hooks` protocols, :mod:`~shared.runtime.outcome` (what a stage
decides), :class:`~shared.runtime.delivery.Delivery`, :class:`~shared.runtime.keys.Keys` and the
settings every worker reads (:class:`~shared.runtime.settings.RuntimeSettings`). It imports nothing
above it: no agent, LLM, contract or stage name. (Nothing is re-exported here, so that importing
one module, ``heap`` say, loads no other.)
"""
