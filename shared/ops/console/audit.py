"""The console's audit trail: every change (resolve, replay, edit, purge) with who made it.

Entries go to the capped stream ``<prefix>:audit``; the operator's run-record steps also name
the operator (``decision.by``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis

from shared.pipeline.keys import Keys
from shared.runtime.delivery import as_text

KEEP = 100_000  # entries kept (approximately): the newest changes

Entries = list[tuple[bytes, dict[bytes, bytes]]]


@dataclass(frozen=True)
class AuditEntry:
    entry_id: str
    who: str
    action: str
    target: str
    detail: str

    @property
    def at(self) -> str:
        stamp = int(self.entry_id.split("-")[0]) / 1000
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stamp))


async def record(
    redis: Redis, keys: Keys, who: str, action: str, target: str, detail: str = ""
) -> None:
    fields = {"who": who, "action": action, "target": target, "detail": detail[:500]}
    await redis.xadd(keys.audit, fields, maxlen=KEEP, approximate=True)  # type: ignore[arg-type]


async def recent(
    redis: Redis, keys: Keys, count: int = 100, before: str | None = None
) -> list[AuditEntry]:
    """The newest ``count`` changes, newest first (older than entry ``before`` when given)."""
    top = f"({before}" if before else "+"
    rows = cast(Entries, await redis.xrevrange(keys.audit, max=top, min="-", count=count))
    return [
        AuditEntry(
            entry_id=as_text(eid),
            who=as_text(f.get(b"who", b"?")),
            action=as_text(f.get(b"action", b"?")),
            target=as_text(f.get(b"target", b"")),
            detail=as_text(f.get(b"detail", b"")),
        )
        for eid, f in rows
    ]
