"""What the outbox tells people besides each item's answer: RT's refusals and start-up problems."""

from __future__ import annotations

import logging
from typing import Any

from bot.html import esc
from bot.ids import matrix_to, server_of
from bot.txn import caused_by
from commands.escalation.part import Part
from commands.escalation.rt.rest2 import RTAuthError, RTError, RTPermissionError

log = logging.getLogger(__name__)


class OutboxNotices(Part):
    """Refused items (the thread and the staff are told which setting to check) and the
    start-up checks of the RT settings."""

    def setting_for(self, exc: RTError) -> str:
        text = str(exc).lower()
        if isinstance(exc, RTAuthError):
            return "[rt] token / token_file"
        if "queue" in text:
            return "[rt] queue"
        if "custom field" in text or "customfield" in text:
            return "[rt] matrix_room_field / matrix_thread_field"
        if isinstance(exc, RTPermissionError):
            return "[rt] queue (the bot's rights on it)"
        return "[rt]"

    async def refused(self, item: dict[str, Any], row: dict[str, Any], exc: RTError) -> None:
        setting = self.setting_for(exc)
        log.error(
            "RT refused outbox item %s (%s): %s; check %s", item["id"], item["kind"], exc, setting
        )
        await self.esc.outbox.finish(item["id"], "dead", str(exc)[:500])
        where = matrix_to(row["room_id"], row["thread_id"], server_of(self.matrix.user_id))
        if item["kind"] == "create":
            await self.store.execute(
                "UPDATE rt_threads SET state='failed' WHERE room_id=? AND thread_id=?",
                (row["room_id"], row["thread_id"]),
            )
            await self.thread_say(
                row,
                "I could not create the RT ticket: RT refused it "
                f"(<code>{esc(exc)}</code>). The bot's configuration needs fixing "
                f"(<code>{esc(setting)}</code>); the team has been told. "
                "Run <code>!ticket</code> again once it is fixed.",
            )
        elif item["kind"] == "close":
            await self.esc.closing.refused(item, row, exc)
        await self.services.tell_staff(
            f'RT refused {esc(item["kind"])} for <a href="{esc(where)}">a thread</a>: '
            f"<code>{esc(exc)}</code> — check <code>{esc(setting)}</code>."
        )

    async def startup_checks(self) -> None:
        try:
            self.esc.rt_user = await self.rt.whoami()
            problems = await self.rt.check_online()
        except RTError as exc:
            problems = [f"RT not usable at start: {exc}"]
        for problem in problems:
            log.error("RT configuration: %s", problem)
        if problems:
            with caused_by(f"rt-startup:{self.now():.0f}"):  # once per start, never replayed
                await self.services.tell_staff(
                    "RT escalation has a problem: "
                    + "; ".join(f"<code>{esc(p)}</code>" for p in problems)
                )
