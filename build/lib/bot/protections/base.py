"""The contract the router relies on; each protection is one class with its own settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bot.context import EventContext


class Protection(Protocol):
    name: str

    async def handle(self, ctx: EventContext) -> bool:
        """Inspect the event; return True when it was consumed (nothing else may see it)."""
        ...
