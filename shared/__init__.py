"""Baton's common package, in layers whose imports point one way (top to bottom):

- :mod:`shared.ops`: operator tools (the ``baton`` CLI, eval, bench, ACL, inbox, replay);
- :mod:`shared.service`: starting a service process (composes the layers below);
- :mod:`shared.observability`: tracing, metrics and logs, plugged into the runtime as hooks;
- :mod:`shared.agents`: the agent SDK (an agent's stage, the LLM client, guardrails, prompting,
  redaction);
- :mod:`shared.pipeline`: the declared topology, its contracts, the envelope, submissions and
  the producer API;
- :mod:`shared.runtime`: streams, attempts, the fenced commit, reclaim, run records and dead
  letters; it knows no agent, LLM or stage name;
- :mod:`shared.errors`: the one error hierarchy every layer raises and the runtime routes on.

The services themselves (``services/``) sit between the agents and the operator tools.
"""
