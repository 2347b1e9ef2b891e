"""How ``baton status`` draws the streams: a table, or one block per stream when the terminal is
too narrow for the table. Cells fold onto more lines rather than being cut short."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from shared.runtime.streamstats import GroupState, StreamState

COLUMNS = ("stream", "length", "/s", "group", "lag", "pending", "oldest", "deliveries", "consumers")


def _cells(state: StreamState, group: GroupState | None) -> list[str]:
    head = [state.name, str(state.length), f"{state.per_second:.1f}"]
    if group is None:
        return [*head, "-", "-", "-", "-", "-", "-"]
    oldest = group.oldest_pending_idle_ms
    in_flight = ",".join(str(c.pending) for c in group.consumers)
    return [
        *head,
        group.name,
        "?" if group.lag is None else str(group.lag),
        str(group.pending),
        "-" if oldest is None else f"{oldest / 1000:.1f}s",
        " ".join(f"{k}x:{v}" for k, v in group.deliveries.items()) or "-",
        f"{group.alive} alive, {group.dead} dead"
        + (f" ({in_flight} in flight)" if in_flight else ""),
    ]


def _rows(states: list[StreamState]) -> list[list[str]]:
    rows: list[list[str]] = []
    for state in states:
        groups: list[GroupState | None] = [*state.groups] or [None]
        rows.extend(_cells(state, group) for group in groups)
    return rows


def table_width(states: list[StreamState]) -> int:
    """The columns the table needs to show every cell whole (borders and padding included)."""
    rows = [list(COLUMNS), *_rows(states)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return sum(widths) + 3 * len(COLUMNS) + 1


def table(states: list[StreamState], prefix: str) -> Table:
    out = Table(title=f"Baton streams ({prefix}:*)", title_justify="left")
    for column in COLUMNS:
        left = column in ("stream", "group", "consumers", "deliveries")
        out.add_column(column, justify="left" if left else "right", no_wrap=True)
    for row in _rows(states):
        out.add_row(*row)
    return out


def blocks(states: list[StreamState], prefix: str) -> RenderableType:
    """One paragraph per stream and group, wrapped at words, for a narrow terminal."""
    parts: list[RenderableType] = [Text(f"Baton streams ({prefix}:*)", style="italic")]
    for row in _rows(states):
        line = Text(row[0], style="bold")
        labels = ("length", "events/s", "group", "lag", "pending", "oldest", "deliveries", "")
        for label, value in zip(labels, row[1:], strict=True):
            if value != "-":
                # a no-break space keeps each label with its value when the line wraps
                line.append(f" · {label}\u00a0{value}" if label else f" · {value}")
        parts.append(line)
    return Group(*parts)
