"""The PNG chart: LLM-bound events/s and latency against concurrency, and the offline runs.

matplotlib is imported here only, with the Agg backend (no display needed). It is the optional
extra ``bench`` (``pip install 'baton[bench]'``; ``make bench`` installs it), left out of the image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class ChartUnavailableError(RuntimeError):
    """matplotlib is not installed."""


def save_chart(result: dict[str, Any], path: Path) -> Path:
    """Draw ``result`` into ``path``; :class:`ChartUnavailableError` without matplotlib."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ChartUnavailableError(
            "the bench chart needs matplotlib: pip install 'baton[bench]' (make bench installs it)"
        ) from exc

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    _llm_throughput(axes[0][0], result)
    _llm_latency(axes[0][1], result)
    _offline_throughput(axes[1][0], result)
    _offline_latency(axes[1][1], result)
    fig.suptitle(f"baton bench, {result['meta']['started_at']} ({result['meta']['cpus']} CPUs)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _points(result: dict[str, Any]) -> list[dict[str, Any]]:
    llm = result.get("llm") or {}
    return list(llm.get("points") or [])


def _llm_throughput(ax: Any, result: dict[str, Any]) -> None:
    points = _points(result)
    delay = (result.get("llm") or {}).get("delay_ms", 0)
    ax.set_title(f"LLM-bound: events/s vs concurrency ({delay:g} ms calls)")
    if not points:
        ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes)
        return
    conc = [p["concurrency"] for p in points]
    ax.plot(conc, [p["events_per_s"] for p in points], "o-", label="Baton")
    ax.plot(conc, [p["ideal_events_per_s"] for p in points], "--", color="grey",
            label="ideal: concurrency / call time")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("BATON_CONCURRENCY (events in flight per worker)")
    ax.set_ylabel("events/s")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()


def _llm_latency(ax: Any, result: dict[str, Any]) -> None:
    points = _points(result)
    ax.set_title("LLM-bound: end-to-end latency vs concurrency (closed loop)")
    if not points:
        ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes)
        return
    conc = [p["concurrency"] for p in points]
    for key in ("p50_ms", "p99_ms"):
        ax.plot(conc, [p["latency"][key] for p in points], "o-", label=key.replace("_ms", ""))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("BATON_CONCURRENCY")
    ax.set_ylabel("ms")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()


def _offline_throughput(ax: Any, result: dict[str, Any]) -> None:
    configs = result.get("configs") or {}
    ax.set_title("offline drain: events/s (median), Baton vs raw ceiling")
    names = list(configs)
    width = 0.38
    for offset, kind in ((-width / 2, "baton"), (width / 2, "raw")):
        values = [configs[n]["throughput"][kind]["events_per_s"] for n in names]
        bars = ax.bar([i + offset for i in range(len(names))], values, width, label=kind)
        ax.bar_label(bars, fmt="%.0f", fontsize=8)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("events/s")
    ax.legend()


def _offline_latency(ax: Any, result: dict[str, Any]) -> None:
    configs = result.get("configs") or {}
    ax.set_title("offline end-to-end latency at a fixed rate (ms)")
    labels: list[str] = []
    values: dict[str, list[float]] = {"p50_ms": [], "p90_ms": [], "p99_ms": []}
    for name, data in configs.items():
        for kind in ("baton", "raw"):
            labels.append(f"{kind}\n{name}")
            for key in values:
                values[key].append(data["latency"][kind]["latency"][key])
    width = 0.27
    for index, (key, series) in enumerate(values.items()):
        positions = [i + (index - 1) * width for i in range(len(labels))]
        ax.bar(positions, series, width, label=key.replace("_ms", ""))
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("ms (log scale)")
    ax.legend()
