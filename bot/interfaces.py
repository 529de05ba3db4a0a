"""Typed contracts capabilities share without importing each other.

Ticket events: escalation announces what happens to a ticket (created, RT correspondence,
status changes); support operations (SLA timers, the triage board, surveys) listen. Neither
imports the other: both find the hub with ``ticket_events(services)``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel

log = logging.getLogger(__name__)


class TicketEvent(BaseModel):
    kind: Literal["escalated", "correspondence", "status"]
    room_id: str
    thread_id: str
    ticket_id: int | None = None
    severity: str | None = None
    org: str | None = None
    customer: str | None = None
    requestor: str | None = None  # the ticket's requestor e-mail
    status: str | None = None  # for kind="status": new RT status (e.g. "resolved")
    by: str | None = None  # who (RT user name or MXID), when known


TicketListener = Callable[[TicketEvent], Awaitable[None]]


class TicketEvents:
    """A tiny in-process hub: listeners run in order; a failing listener is logged, never raised."""

    def __init__(self) -> None:
        self._listeners: list[TicketListener] = []

    def subscribe(self, listener: TicketListener) -> None:
        self._listeners.append(listener)

    async def emit(self, event: TicketEvent) -> None:
        for listener in self._listeners:
            try:
                await listener(event)
            except Exception:
                log.exception("ticket event listener failed on %s", event.kind)


def ticket_events(services: Any) -> TicketEvents:
    """The hub of one App (kept in ``services.extras``)."""
    hub = services.extras.get("ticket_events")
    if hub is None:
        hub = services.extras["ticket_events"] = TicketEvents()
    return hub
