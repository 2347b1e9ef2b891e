"""Memory of a long-running worker process: the garbage collector's settings, and modules kept out.

With CPython's defaults (a young-generation pass every 700 net allocations) a worker spent about
15% of its CPU in the cycle collector, and each full pass walked every object its imports had
made, stopping the event loop for up to ~150 ms: the p99 latency of every event in flight.
Reference counting frees almost everything a stage allocates, so the collector (which only has
to find cycles) can run far less often; and the objects that live as long as the process
(modules, settings, clients) are frozen out of its reach.
"""

from __future__ import annotations

import gc
import sys

UNUSED_BY_WORKERS = (
    # structlog renders tracebacks with rich (~5 MiB with pygments) when it is installed, as it
    # is for the CLI's tables; a worker's logs fall back to plain tracebacks.
    "rich",
    # redis-py loads the metrics SDK when it can, for client metrics Baton never turns on (it
    # exports its own with prometheus-client).
    "opentelemetry.sdk.metrics",
)
"""Optional dependencies of our libraries that a worker process does without."""

YOUNG_THRESHOLD = 50_000
"""Net allocations between young-generation passes (CPython's default: 700)."""


def tune() -> None:
    """Call once at start-up, after the imports: freeze what exists, collect less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def keep_out_unused_modules() -> None:
    """Make the :data:`UNUSED_BY_WORKERS` modules unimportable in this process, so that the
    libraries that try them take their fallbacks. Call it first thing in a worker's entry point,
    before anything imports those libraries; a module already loaded is left alone.

    About 6 MiB less resident memory per worker replica.
    """
    for name in UNUSED_BY_WORKERS:
        # None in sys.modules is the documented way to make an import raise ImportError.
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
