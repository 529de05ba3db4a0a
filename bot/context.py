"""What a handler gets: the event, who sent it (role), where (place), and the services."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.clock import utcnow
from bot.config import Config
from bot.events import Event
from bot.html import esc
from bot.interfaces import (
    CustomerDirectory,
    EscalationService,
    FaqService,
    ModerationService,
)
from bot.matrix import MatrixGateway
from bot.metrics import Metrics
from bot.roles import Place, Role, Roles
from bot.store import Store

if TYPE_CHECKING:
    from bot.protection import Protection

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything long-lived, built once by bot.app; features attach theirs by name."""

    config: Config
    store: Store
    matrix: MatrixGateway
    roles: Roles
    metrics: Metrics
    clock: Callable[[], datetime] = utcnow
    protections: list[Protection] = field(default_factory=list)
    # Rooms besides support and staff the bot joins when invited and never treats as a DM
    # (e.g. policy-list rooms): capabilities add room ids in their setup().
    wanted_rooms: set[str] = field(default_factory=set)
    # Feature services (set by each feature's setup(); None when the feature is off).
    kb: FaqService | None = None  # the FAQ's knowledge service (commands.faq)
    rt: Any = None  # commands.escalation.rt.interface.RTClient (REST 2.0 or REST 1.0)
    escalation: EscalationService | None = None  # !ticket / RT sync service
    access: CustomerDirectory | None = None  # the access registry (commands.access)
    moderation: ModerationService | None = None  # moderation / audit service
    extras: dict[str, Any] = field(default_factory=dict)

    async def tell_staff(self, html: str, plain: str | None = None) -> str | None:
        """One line in the staff room; failures are logged, never raised (a notice must not break an action)."""
        try:
            return await self.matrix.send(self.config.rooms.staff, html, plain)
        except Exception:
            log.exception("could not post to the staff room")
            self.metrics.errors.labels("staff_notice").inc()
            return None


@dataclass
class EventContext:
    event: Event
    role: Role
    place: Place
    services: Services

    @property
    def matrix(self) -> MatrixGateway:
        return self.services.matrix

    @property
    def store(self) -> Store:
        return self.services.store

    @property
    def config(self) -> Config:
        return self.services.config

    @property
    def is_staff(self) -> bool:
        return self.role >= Role.engineer

    async def reply(self, html: str, plain: str | None = None, **kw: Any) -> str:
        """Answer in the event's thread."""
        return await self.matrix.reply(self.event, html, plain, **kw)

    async def refuse(self, why: str) -> str:
        """A polite refusal, in the thread; ``why`` is plain text."""
        return await self.reply(f"Sorry, I can't do that: {esc(why)}")
