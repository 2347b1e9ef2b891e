"""``baton bench``: throughput, latency, CPU and memory of the real pipeline, next to a raw ceiling.

One module per concept: :mod:`runner` (Redis and worker processes), :mod:`raw` (the raw
XREADGROUP/XADD/XACK ceiling), :mod:`load` (posting and collecting), :mod:`audit`
(completeness), :mod:`resources` (CPU and RSS from /proc), :mod:`phases` (one measured run),
:mod:`llm` (the LLM-bound sweep against the fake server), :mod:`plan` (the whole benchmark),
:mod:`targets`, :mod:`report` and :mod:`chart` (output), :mod:`profile` (py-spy).
"""
