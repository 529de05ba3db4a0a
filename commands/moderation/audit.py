"""The moderation audit trail: one row and one staff line per action, history, and ↩️-undo."""

from __future__ import annotations

import logging
from typing import Any

from bot.html import esc, user_pill
from commands.moderation.base import (
    ICON,
    PAST,
    UNDO_KEY,
    UNDO_OF,
    ModeratorBase,
    NotAnAction,
    Outcome,
    Refused,
    fmt_duration,
)

log = logging.getLogger(__name__)


class AuditTrail(ModeratorBase):
    """Reads and undoes what act() recorded in moderation_audit."""

    def _line(
        self,
        audit_id: int,
        action: str,
        target: str,
        actor: str,
        protection: str | None,
        reason: str,
        shadow: bool,
        error: str | None,
        seconds: float | None,
    ) -> str:
        who = esc(protection) if protection else user_pill(actor)
        what = PAST[action]
        if shadow:
            what = "would have " + {
                "redact": "redacted a message of",
                "warn": "warned",
                "mute": "muted",
                "kick": "kicked",
                "ban": "banned",
            }.get(action, action)
        span = f" for {fmt_duration(seconds)}" if seconds and action == "mute" else ""
        icon = "🫥" if shadow else ICON.get(action, "🛡️")
        text = f"{icon} #{audit_id} {who}: {what} {user_pill(target)}{span}"
        if reason:
            text += f" — {esc(reason)}"
        if error:
            text += f" — <b>failed</b>: {esc(error)}"
        elif not shadow and action in UNDO_OF:
            text += f" (react {UNDO_KEY} to undo)"
        return text

    async def undo(self, staff_event_id: str, by: str) -> Outcome:
        row = await self.store.fetchone(
            "SELECT * FROM moderation_audit WHERE staff_event_id=?", (staff_event_id,)
        )
        if row is None:
            raise NotAnAction("that line is not a moderation action")
        if row["shadow"]:
            raise Refused(f"#{row['id']} was shadow mode: nothing was done")
        if not row["ok"]:
            raise Refused(f"#{row['id']} failed: nothing to undo")
        if row["undone_at"] is not None:
            raise Refused(f"#{row['id']} was already undone")
        reverse = UNDO_OF.get(row["action"])
        if reverse is None:
            raise Refused(f"a {row['action']} cannot be undone")
        if row["action"] == "mute":
            still = await self.store.fetchone(
                "SELECT audit_id FROM moderation_mutes WHERE room_id=? AND user_id=?",
                (row["room_id"], row["target"]),
            )
            if still is None:
                raise Refused(f"#{row['id']}: {row['target']} is not muted any more")
        await self.store.execute(
            "UPDATE moderation_audit SET undone_by=?, undone_at=? WHERE id=?",
            (by, self.now(), row["id"]),
        )
        return await self.act(
            reverse,
            target=row["target"],
            actor=by,
            reason=f"undo of #{row['id']}",
            room_id=row["room_id"],
            undo_of=row["id"],
        )

    async def history(self, limit: int = 10) -> list[dict[str, Any]]:
        return await self.store.fetchall(
            "SELECT * FROM moderation_audit ORDER BY id DESC LIMIT ?", (limit,)
        )
