"""Operator tools: the ``baton`` command line (:mod:`shared.ops.cli`), the evaluation suite
(:mod:`shared.ops.eval`), the benchmark (:mod:`shared.ops.bench`), the Redis ACL plan, the
escalation inbox, dead-letter replay, stream statistics and the embedded Redis server. The top
layer: it may import everything, nothing imports it.
"""
