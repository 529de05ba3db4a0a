"""Small typed interfaces that capabilities share, so they never reach into each other.

The core and a capability that needs another one depend on these Protocols only; the
capability that provides the behaviour implements them (structural typing, no import).

Ticket events: escalation announces what happens to a ticket (created, RT correspondence,
status changes); support operations (SLA timers, the triage board, surveys) listen. Neither
imports the other: both find the hub with ``ticket_events(services)``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel

if TYPE_CHECKING:
    from bot.context import Services

log = logging.getLogger(__name__)


class OrgLookup(Protocol):
    async def org_of(self, user_id: str) -> str | None:
        """The id of the organisation ``user_id`` belongs to, if any."""
        ...


class CustomerDirectory(OrgLookup, Protocol):
    """Who a Matrix user is as a customer: implemented by access, used by the core and escalation."""

    async def knows(self, user_id: str, room_id: str | None = None) -> bool:
        """Whether an invite from ``user_id`` (into ``room_id``) is accepted."""
        ...

    async def email_of(self, user_id: str) -> str | None:
        """The registry's e-mail address of ``user_id``, if it has one."""
        ...


class TicketLinks(Protocol):
    def ticket_link(self, ticket_id: int) -> str:
        """The address of an RT ticket's page, for a link in chat."""
        ...


class EscalationService(Protocol):
    """What other capabilities use of escalation (support: ticket links, organisations and
    the ticket of a thread). Implemented by commands.escalation.service.Escalation."""

    @property
    def settings(self) -> TicketLinks: ...

    @property
    def directory(self) -> OrgLookup:
        """Organisations as escalation sees them (the access registry, or test overrides)."""
        ...

    async def mapping(self, room_id: str, thread_id: str) -> dict[str, Any] | None:
        """The thread's row in rt_threads (``ticket_id`` None until RT made the ticket)."""
        ...


class FaqService(Protocol):
    """The FAQ capability's service (knowledge.service.KnowledgeService). No other package
    calls it: the faq package narrows it to its own class before use."""


class ModerationService(Protocol):
    """The moderation capability's service (commands.moderation.moderator.Moderator). No
    other package calls it: the moderation package narrows it to its own class before use."""


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


def ticket_events(services: Services) -> TicketEvents:
    """The hub of one App (kept in ``services.extras``)."""
    hub = services.extras.get("ticket_events")
    if not isinstance(hub, TicketEvents):
        hub = services.extras["ticket_events"] = TicketEvents()
    return hub
