"""The Support service's shared state and Matrix helpers (the mixins in this package build on it)."""

from __future__ import annotations

import asyncio
import logging

from bot.context import Services
from bot.ids import matrix_to, server_of
from commands.support.calendar import SupportCalendar
from commands.support.report import ReportMetrics
from commands.support.repository import CardRow
from commands.support.satisfaction import Surveys
from commands.support.settings import SupportSettings
from commands.support.sla import SLAPolicy, SLATimers, dt
from commands.support.statuspage import StatusService
from commands.support.triage import Board, card_html

log = logging.getLogger("commands.support.commands")  # the name it logged under before the split


class SupportCore:
    """Shared state: calendar, SLA timers, board, surveys, status; posting to the rooms."""

    def __init__(self, services: Services, settings: SupportSettings) -> None:
        self.services = services
        self.settings = settings
        self.calendar = SupportCalendar(settings)
        self.policy = SLAPolicy(settings, self.calendar)
        self.timers = SLATimers(services.store, self.policy)
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self.board = Board(services.store, self._post_staff, self._edit_staff, self._card_html)
        self.surveys = Surveys(services.store)
        self.report_metrics = ReportMetrics(services.metrics.registry)
        self.status: StatusService | None = None
        if settings.statuspage.enabled:
            self.status = StatusService(
                settings.statuspage, services.store, self._post_support, self._edit_support
            )

    async def _post_staff(self, html: str) -> str:
        return await self.services.matrix.send(self.services.config.rooms.staff, html)

    async def _edit_staff(self, event_id: str, html: str) -> None:
        await self.services.matrix.edit(self.services.config.rooms.staff, event_id, html)

    def ticket_url(self, ticket_id: int | None) -> str | None:
        if ticket_id is None or self.services.escalation is None:
            return None
        return self.services.escalation.settings.ticket_link(ticket_id)

    def _card_html(self, card: CardRow) -> str:
        return card_html(
            card,
            thread_url=self.thread_link(card.room_id, card.thread_id),
            when=self.calendar.describe(dt(card.started_at)),
            ticket_url=self.ticket_url(card.ticket_id),
        )

    async def _post_support(self, html: str) -> str:
        return await self.services.matrix.send(self.services.config.rooms.support, html)

    async def _edit_support(self, event_id: str, html: str) -> None:
        await self.services.matrix.edit(self.services.config.rooms.support, event_id, html)

    @property
    def clock(self):  # type: ignore[no-untyped-def]
        return self.services.clock

    def thread_link(self, room_id: str, thread_id: str) -> str:
        return matrix_to(room_id, thread_id, server_of(self.services.matrix.user_id))
