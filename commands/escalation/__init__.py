"""Escalation to Best Practical RT: !ticket, the outbox, the RT->Matrix relay, transcripts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.capability import Capability
from commands.escalation.settings import RTSettings

if TYPE_CHECKING:
    from bot.app import App


async def _setup(app: App) -> None:
    from commands.escalation.commands import setup

    await setup(app)


async def _online(settings: Any) -> list[str]:
    # Which API (REST 2.0 / REST 1.0, probed when api = "auto") and why, then that API's checks.
    from commands.escalation.rt.factory import check_online

    return await check_online(settings)


capability = Capability(
    name="escalation",
    order=30,
    setup=_setup,
    settings_key="rt",
    settings_model=RTSettings,
    settings_default=False,  # no [rt] table: escalation is off
    online_check=_online,
)
