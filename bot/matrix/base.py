"""The state the gateway's areas share (one nio client); see gateway.py."""

from __future__ import annotations

import asyncio
import logging

from nio import AsyncClient

from bot.config import MatrixSettings
from bot.txn import SentLog

log = logging.getLogger(__name__)


class GatewayBase:
    """What every area of the gateway shares: one nio client and what sync taught it."""

    settings: MatrixSettings
    client: AsyncClient
    _dm_rooms: dict[str, str]
    _left_dms: set[str]  # DMs that grew: never a DM again in this process
    _invite_direct: dict[str, bool]  # room -> the bot's pending invite says is_direct
    _creators: dict[str, set[str]]
    _sync_done: asyncio.Condition
    sent_log: SentLog | None

    @property
    def user_id(self) -> str:
        user_id: str = self.client.user_id
        return user_id

    async def wait_for_room(
        self, room_id: str, timeout: float = 10.0, *, member: str | None = None
    ) -> bool:
        """Wait until a completely processed sync has shown ``room_id``.

        nio refuses to send into a room no sync has shown (e.g. a DM just
        created), and a room seen half-processed lacks its members, so the
        megolm key would not reach the invitee. Only the intake's "sync done"
        signal says the room's state is complete.
        """
        try:
            async with asyncio.timeout(timeout), self._sync_done:
                await self._sync_done.wait_for(lambda: self._room_has(room_id, member))
        except TimeoutError:
            return False
        return True

    def _room_has(self, room_id: str, member: str | None) -> bool:
        room = self.client.rooms.get(room_id)
        return room is not None and (member is None or member in room.users)
