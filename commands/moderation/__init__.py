"""Moderation: automatic protections, moderator commands, the audit log and ↩️-undo."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.capability import Capability
from commands.moderation.settings import ModerationSettings

if TYPE_CHECKING:
    from bot.app import App


async def _setup(app: App) -> None:
    from commands.moderation.commands import setup

    await setup(app)


capability = Capability(
    name="moderation",
    order=40,
    setup=_setup,
    settings_key="moderation",
    settings_model=ModerationSettings,
)
