"""What an action does in Matrix (redact, warn, mute, kick, ban and their undo), and timed unmutes."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bot.html import esc, user_pill
from bot.matrix import MatrixError
from commands.moderation.base import (
    MUTE_CHECK_SECONDS,
    Action,
    ModeratorBase,
)
from commands.moderation.redactions import BatchState

# How long an action waits for its redactions before it reports the rest as queued: long enough
# for an unthrottled homeserver, short enough not to hold up the room's other events.
REDACT_PATIENCE = 3.0

log = logging.getLogger(__name__)


class Consequences(ModeratorBase):
    """The effects behind Moderator.act; only act() calls them, after its checks."""

    async def _perform(
        self,
        action: Action,
        room: str,
        target: str,
        reason: str,
        event_ids: list[str | None],
        seconds: float | None,
        warn_html: str | None,
    ) -> dict[str, Any]:
        m = self.matrix
        event_id = event_ids[0] if event_ids else None
        if action == "redact":
            ids = [eid for eid in event_ids if eid]
            rows = await self.redactions.submit(room, ids, reason)
            for eid in ids:  # queued is as good as gone: the queue never drops one
                await self.recent.discard(room, eid)
            st = await self.redactions.wait(rows, REDACT_PATIENCE)
            if st.failed and not st.done and not st.pending:
                raise MatrixError("redact", "; ".join(st.errors))
            return {
                "count": len(ids),
                "done": st.done,
                "queued": st.pending,
                "failed": st.failed,
                "_rows": rows,
            }
        if action == "warn":
            html = warn_html or f"{user_pill(target)}, {esc(reason)}"
            if event_id:
                await m.send(room, html, thread_root=event_id, mentions=[target])
            else:
                await m.send(room, html, mentions=[target])
        elif action == "mute":
            return {"prev_level": await self._mute(room, target)}
        elif action == "unmute":
            await self._unmute(room, target)
        elif action == "kick":
            await m.kick(room, target, reason or None)
            self.names.remove(target)  # our own member events never reach observe()
        elif action == "ban":
            await m.ban(room, target, reason or None)
            self.names.remove(target)
        elif action == "unban":
            await m.unban(room, target)
        elif action == "invite":
            await m.invite(room, target)
        return {}

    async def redactions_settled(self, audit_id: int, st: BatchState) -> None:
        """The end of an action's queued redactions, told to staff under the action's number."""
        text = f"🧹 #{audit_id}: the queued redactions are done ({st.done} redacted"
        text += f", {st.failed} failed: {esc('; '.join(st.errors))})" if st.failed else ")"
        await self.services.tell_staff(text)

    async def _mute(self, room: str, target: str) -> int | None:
        async with self._lock:  # power levels are read-modify-write
            existing = await self.store.fetchone(
                "SELECT prev_level FROM moderation_mutes WHERE room_id=? AND user_id=?",
                (room, target),
            )
            content = await self.matrix.get_state(room, "m.room.power_levels")
            users = content.get("users") or {}
            prev = users.get(target)
            if existing is not None:  # muted already: keep the level from before the first mute
                prev = existing["prev_level"]
            await self.matrix.set_power_level(room, target, self.settings.mute_power_level)
            return None if prev is None else int(prev)

    async def is_muted(self, room: str, target: str) -> bool:
        row = await self.store.fetchone(
            "SELECT 1 FROM moderation_mutes WHERE room_id=? AND user_id=?", (room, target)
        )
        if row is not None:
            return True
        try:  # muted by hand (or before a lost store): a negative level counts too
            content = await self.matrix.get_state(room, "m.room.power_levels")
        except MatrixError:
            return False
        level = (content.get("users") or {}).get(target)
        return level is not None and int(level) < 0

    async def _unmute(self, room: str, target: str) -> None:
        async with self._lock:
            row = await self.store.fetchone(
                "SELECT prev_level FROM moderation_mutes WHERE room_id=? AND user_id=?",
                (room, target),
            )
            prev = row["prev_level"] if row else None
            await self.matrix.set_power_level(room, target, prev)
            await self.store.execute(
                "DELETE FROM moderation_mutes WHERE room_id=? AND user_id=?", (room, target)
            )

    async def expire_mutes(self) -> int:
        rows = await self.store.fetchall(
            "SELECT room_id, user_id, audit_id FROM moderation_mutes WHERE until <= ?",
            (self.now(),),
        )
        for row in rows:
            try:
                outcome = await self.act(
                    "unmute",
                    target=row["user_id"],
                    actor=self.matrix.user_id,
                    protection="mute timer",
                    reason=f"end of mute #{row['audit_id']}",
                    room_id=row["room_id"],
                )
                if not outcome.ok:  # retry later, without a staff line every few seconds
                    await self.store.execute(
                        "UPDATE moderation_mutes SET until=? WHERE room_id=? AND user_id=?",
                        (self.now() + 300, row["room_id"], row["user_id"]),
                    )
            except Exception:
                log.exception("timed unmute of %s failed", row["user_id"])
        return len(rows)

    async def mute_loop(self) -> None:
        while True:
            await self.expire_mutes()
            await asyncio.sleep(MUTE_CHECK_SECONDS)
