"""The state the gateway's areas share (one nio client); see gateway.py."""

from __future__ import annotations

import asyncio
import logging

from nio import AsyncClient

from bot.config import MatrixSettings

log = logging.getLogger(__name__)


class GatewayBase:
    """What every area of the gateway shares: one nio client and what sync taught it."""

    settings: MatrixSettings
    client: AsyncClient
    _dm_rooms: dict[str, str]
    _creators: dict[str, set[str]]
    _sync_done: asyncio.Condition

    @property
    def user_id(self) -> str:
        return self.client.user_id
