"""Support operations: hours, out-of-hours replies, first-response SLAs, service status.

The logic lives in small modules that do not know about Matrix (settings, calendar, sla,
statuspage models); ``commands.py`` is the one chat surface and holds ``setup(app)``.
Ticket events reach it from escalation through ``bot.interfaces.ticket_events``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.capability import Capability
from commands.support.settings import SupportSettings

if TYPE_CHECKING:
    from bot.app import App


async def _setup(app: App) -> None:
    from commands.support.commands import setup

    await setup(app)


# After faq (50): a question the FAQ answers gets that answer first, not an out-of-hours reply.
capability = Capability(
    name="support", order=60, setup=_setup, settings_key="support", settings_model=SupportSettings
)
