"""Faults a real server cannot show on cue, as wrappers around the real clients.

Production classes carry no test hooks: a test swaps a wrapper in where the real client
sits (``app.services.escalation.rt = DiesAfterCreate(app.services.escalation.rt)``).
"""

from __future__ import annotations

import asyncio
from typing import Any


async def _forever() -> None:
    await asyncio.Event().wait()  # cancelled when the bot stops


class DiesAfterCreate:
    """An RT client that goes silent once RT has created a ticket, as if the bot died there.

    The create reaches RT; its answer never comes back, and no later call returns either, so
    nothing after that point runs (no mapping row, no reply) until the bot is restarted.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.created: list[int] = []
        self.dead = False

    async def create_ticket(self, *args: Any, **kwargs: Any) -> int:
        if self.dead:
            await _forever()
        ticket_id = int(await self.inner.create_ticket(*args, **kwargs))
        self.created.append(ticket_id)
        self.dead = True
        await _forever()
        raise AssertionError("unreachable")

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not asyncio.iscoroutinefunction(attr):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.dead:
                await _forever()
            return await attr(*args, **kwargs)

        return call
