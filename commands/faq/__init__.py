"""FAQ answers from the docs (chat surface and its tables); knowledge/ is the matching engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.capability import Capability
from knowledge.settings import KnowledgeSettings

if TYPE_CHECKING:
    from bot.app import App


async def _setup(app: App) -> None:
    from commands.faq.commands import setup

    await setup(app)


capability = Capability(
    name="faq", order=50, setup=_setup, settings_key="knowledge", settings_model=KnowledgeSettings
)
