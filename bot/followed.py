"""Rooms a capability reads besides the support and staff rooms (moderation's policy lists).

The router hands every event from them to the one watcher that follows the room, before any
protection or command sees it: nothing else ever runs there, so a list room is never
answered in. (Joining them and accepting their invites is ``Services.wanted_rooms``.) Kept
in ``services.extras`` like the ticket-event hub, so the core never imports the capability
that follows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot.events import Event

if TYPE_CHECKING:
    from bot.context import Services

Watcher = Callable[[Event], Awaitable[None]]


class FollowedRooms:
    def __init__(self) -> None:
        self._watchers: dict[str, Watcher] = {}

    def follow(self, room_id: str, watcher: Watcher) -> None:
        self._watchers[room_id] = watcher

    def follows(self, room_id: str) -> bool:
        return room_id in self._watchers

    async def deliver(self, event: Event) -> bool:
        """Hand ``event`` to its room's watcher; False when nobody follows the room."""
        watcher = self._watchers.get(event.room_id)
        if watcher is None:
            return False
        await watcher(event)
        return True


def followed_rooms(services: Services) -> FollowedRooms:
    """The registry of one App (kept in ``services.extras``)."""
    rooms = services.extras.get("followed_rooms")
    if not isinstance(rooms, FollowedRooms):
        rooms = services.extras["followed_rooms"] = FollowedRooms()
    return rooms
