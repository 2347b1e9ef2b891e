"""Last chances run alone: how a worker tells a poison event from its innocent neighbours.

A worker that crashes (a segfault, an OOM kill, a poison event) takes every entry it had in flight
down with it, and each is delivered once more: delivery counts alone cannot tell the poison event
from the others. Isolation can. An entry on its last delivery waits until nothing else is in
flight in its worker, then runs by itself while the worker takes no new work; it is dead-lettered
for ``max_deliveries`` only once such a delivery of its own failed too. The run record marks the
isolated delivery before it starts, so a crash during it counts as that failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping


class Isolation:
    """The turns of a worker's entries that must run alone.

    Args:
        inflight: the worker's entries in flight, by entry id (read, never changed, here).
    """

    def __init__(self, inflight: Mapping[str, object]) -> None:
        self._inflight = inflight
        self._turn = asyncio.Lock()
        self._waiting: set[str] = set()
        self._changed = asyncio.Event()  # an entry finished or began waiting for its turn
        self._nobody_alone = asyncio.Event()  # cleared while an entry runs alone
        self._nobody_alone.set()

    @property
    def busy(self) -> bool:
        """An entry runs alone or waits for its turn: the worker takes no new work."""
        return self._turn.locked()

    def entry_finished(self) -> None:
        """Tell the waiting entry that the set of entries in flight has changed."""
        self._changed.set()

    async def wait_while_one_runs_alone(self) -> None:
        """For an entry read (or reclaimed) while another runs alone: start once it is done."""
        await self._nobody_alone.wait()

    async def run_alone(
        self,
        entry_id: str,
        mark: Callable[[], Awaitable[bool]],
        attempt: Callable[[bool], Awaitable[None]],
    ) -> None:
        """Wait for the others to finish, then ``mark`` the run record and run ``attempt``.

        ``mark`` returns False when this entry already had its turn alone (a previous one was
        cut short by a crash); ``attempt`` is then told to apply the delivery cap.
        """
        self._waiting.add(entry_id)
        self._changed.set()
        try:
            async with self._turn:
                self._waiting.discard(entry_id)
                await self._others_finished(entry_id)
                self._nobody_alone.clear()
                try:
                    first = await mark()
                    await attempt(not first)
                finally:
                    self._nobody_alone.set()
        finally:
            self._waiting.discard(entry_id)

    async def _others_finished(self, entry_id: str) -> None:
        """Wait until every other entry has finished or is waiting for its own turn alone (a task
        just started may not have said which it is yet: re-check on every change)."""
        while any(e != entry_id and e not in self._waiting for e in self._inflight):
            self._changed.clear()
            await self._changed.wait()
