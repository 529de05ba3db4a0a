"""General commands every bot has: !help, !ping, !version."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.capability import Capability

if TYPE_CHECKING:
    from bot.app import App


async def _setup(app: App) -> None:
    from commands.general.commands import setup

    await setup(app)


capability = Capability(name="general", order=10, setup=_setup)
