"""Tracing, metrics and structured logs. :class:`~shared.observability.observe.Observer` plugs
them into the runtime as its :class:`~shared.runtime.hooks.Hooks` and wraps a stage's LLM client;
handlers and the runtime never call them directly.
"""
