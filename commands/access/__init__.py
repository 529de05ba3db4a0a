"""Access to the support room: the entitlement registry, !join, knocks, !access, !orgs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.capability import Capability
from commands.access.settings import AccessSettings

if TYPE_CHECKING:
    from bot.app import App


async def _setup(app: App) -> None:
    from commands.access.commands import setup

    await setup(app)


capability = Capability(
    name="access", order=20, setup=_setup, settings_key="access", settings_model=AccessSettings
)
