"""What the escalation service's pieces share (outbox, relay, thread sync)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bot.context import Services
from bot.matrix import MatrixError, MatrixGateway
from bot.store import Store
from commands.escalation.directory import Directory, RTMetrics
from commands.escalation.rt.interface import RTClient
from commands.escalation.settings import RTSettings

if TYPE_CHECKING:
    from commands.escalation.service import Escalation

log = logging.getLogger(__name__)


class Part:
    """A piece of the escalation service: shares its settings, RT client and core services."""

    def __init__(self, esc: Escalation) -> None:
        self.esc = esc

    def now(self) -> float:
        """The injected clock, as a Unix time (what the tables store)."""
        return self.esc.now()

    @property
    def services(self) -> Services:
        return self.esc.services

    @property
    def settings(self) -> RTSettings:
        return self.esc.settings

    @property
    def rt(self) -> RTClient:
        return self.esc.rt

    @property
    def store(self) -> Store:
        return self.esc.services.store

    @property
    def matrix(self) -> MatrixGateway:
        return self.esc.services.matrix

    @property
    def metrics(self) -> RTMetrics:
        return self.esc.metrics

    @property
    def directory(self) -> Directory:
        return self.esc.directory

    async def thread_say(self, row: dict[str, Any], html: str, **kw: Any) -> str | None:
        try:
            return await self.matrix.send(row["room_id"], html, thread_root=row["thread_id"], **kw)
        except MatrixError:
            log.exception("could not post in thread %s", row["thread_id"])
            return None
