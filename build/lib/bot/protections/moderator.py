"""The one place that acts on people: redact, warn, mute, kick, ban, and their undo, all audited.

Automatic protections and moderator commands both go through `Moderator.act`, so every action
(or, in shadow mode, every would-be action) becomes one `moderation_audit` row and one line in
the staff room, and staff and the bot itself can never be the target. Reasons are built by the
callers from kinds and counts only; nothing here ever sees a credential's value.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from prometheus_client import Counter

from bot.context import Services
from bot.events import Event
from bot.html import code, esc, user_pill
from bot.matrix import MatrixError
from bot.protections.settings import ModerationSettings, ProtectionSwitch

log = logging.getLogger(__name__)

Action = Literal["redact", "warn", "mute", "unmute", "kick", "ban", "unban", "invite"]
UNDO_OF: dict[str, Action] = {"mute": "unmute", "ban": "unban", "kick": "invite"}
ICON = {"redact": "🧹", "warn": "⚠️", "mute": "🔇", "unmute": "🔊", "kick": "👢", "ban": "🔨"}
PAST = {
    "redact": "redacted a message of",
    "warn": "warned",
    "mute": "muted",
    "unmute": "unmuted",
    "kick": "kicked",
    "ban": "banned",
    "unban": "unbanned",
    "invite": "re-invited",
}
UNDO_KEY = "↩️"
RECENT_PER_USER = 500
MUTE_CHECK_SECONDS = 2.0

MIGRATIONS = [
    """
    CREATE TABLE moderation_audit (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      ts REAL NOT NULL,
      action TEXT NOT NULL,
      target TEXT NOT NULL,
      actor TEXT NOT NULL,
      protection TEXT,
      reason TEXT NOT NULL DEFAULT '',
      room_id TEXT NOT NULL,
      event_id TEXT,
      shadow INTEGER NOT NULL DEFAULT 0,
      ok INTEGER NOT NULL DEFAULT 1,
      error TEXT,
      detail TEXT NOT NULL DEFAULT '{}',
      staff_event_id TEXT,
      undo_of INTEGER,
      undone_by TEXT,
      undone_at REAL
    );
    CREATE INDEX moderation_audit_staff ON moderation_audit(staff_event_id);
    CREATE INDEX moderation_audit_target ON moderation_audit(target, ts);
    CREATE TABLE moderation_mutes (
      room_id TEXT NOT NULL,
      user_id TEXT NOT NULL,
      until REAL NOT NULL,
      prev_level INTEGER,
      audit_id INTEGER,
      PRIMARY KEY (room_id, user_id)
    );
    CREATE TABLE moderation_switches (
      protection TEXT PRIMARY KEY,
      enabled INTEGER NOT NULL,
      shadow INTEGER NOT NULL,
      changed_by TEXT NOT NULL,
      changed_at REAL NOT NULL
    );
    CREATE TABLE moderation_joins (
      room_id TEXT NOT NULL,
      user_id TEXT NOT NULL,
      joined_at REAL NOT NULL,
      PRIMARY KEY (room_id, user_id)
    )
    """,
]


class Refused(Exception):
    """The action may not be taken (target is staff or the bot, nothing to undo...)."""


class NotAnAction(Refused):
    """An undo reaction on a line that is not an audited action: ignore quietly."""


@dataclass
class Outcome:
    audit_id: int
    ok: bool
    shadow: bool
    line: str
    error: str | None = None


@dataclass
class Switch:
    enabled: bool
    shadow: bool


@dataclass
class _Recent:
    """Event ids (never bodies) of a user's recent messages, for `!redact @user N`."""

    ids: dict[tuple[str, str], deque[str]] = field(default_factory=dict)

    def add(self, room_id: str, user_id: str, event_id: str) -> None:
        q = self.ids.setdefault((room_id, user_id), deque(maxlen=RECENT_PER_USER))
        q.append(event_id)

    def discard(self, room_id: str, event_id: str) -> None:
        for (room, _), q in self.ids.items():
            if room == room_id and event_id in q:
                q.remove(event_id)
                return

    def last(self, room_id: str, user_id: str, n: int) -> list[str]:
        q = self.ids.get((room_id, user_id))
        return list(q)[-n:] if q else []


def fmt_duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


class Moderator:
    def __init__(self, services: Services, settings: ModerationSettings) -> None:
        self.services = services
        self.settings = settings
        self.store = services.store
        self.matrix = services.matrix
        self.support = services.config.rooms.support
        self.recent = _Recent()
        self.joins: dict[tuple[str, str], float] = {}
        self._switches: dict[str, Switch] = {}
        self.protections: dict[str, Any] = {}  # name -> protection, filled by the feature setup
        self._lock = asyncio.Lock()
        self.actions = Counter(
            "backchannel_moderation_actions_total",
            "Moderation actions (and shadow would-be actions), by action and protection",
            ["action", "protection", "shadow"],
            registry=services.metrics.registry,
        )

    # ---- lifecycle -------------------------------------------------------------------

    async def load(self) -> None:
        for row in await self.store.fetchall("SELECT * FROM moderation_switches"):
            self._switches[row["protection"]] = Switch(bool(row["enabled"]), bool(row["shadow"]))
        for row in await self.store.fetchall("SELECT * FROM moderation_joins"):
            self.joins[(row["room_id"], row["user_id"])] = float(row["joined_at"])

    def now(self) -> float:
        return self.services.clock().timestamp()

    # ---- switches (`!protections`) ---------------------------------------------------

    def switch(self, name: str, settings: ProtectionSwitch) -> Switch:
        """Runtime override if an engineer set one, else the config."""
        return self._switches.get(name) or Switch(settings.enabled, settings.shadow)

    async def set_switch(self, name: str, enabled: bool, shadow: bool, by: str) -> None:
        self._switches[name] = Switch(enabled, shadow)
        await self.store.execute(
            "INSERT INTO moderation_switches(protection, enabled, shadow, changed_by, changed_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(protection) DO UPDATE SET enabled=excluded.enabled,"
            " shadow=excluded.shadow, changed_by=excluded.changed_by, changed_at=excluded.changed_at",
            (name, int(enabled), int(shadow), by, self.now()),
        )

    # ---- observations ----------------------------------------------------------------

    async def observe(self, ev: Event) -> None:
        """Track joins (for new-member limits) and message ids (for `!redact`)."""
        if ev.kind == "message":
            self.recent.add(ev.room_id, ev.sender, ev.event_id)
        elif ev.kind == "redaction" and ev.relates_to:
            self.recent.discard(ev.room_id, ev.relates_to)
        elif ev.kind == "member" and ev.state_key:
            key = (ev.room_id, ev.state_key)
            if ev.membership == "join" and ev.prev_membership != "join":
                self.joins[key] = ev.ts / 1000
                await self.store.execute(
                    "INSERT INTO moderation_joins(room_id, user_id, joined_at) VALUES (?, ?, ?) "
                    "ON CONFLICT(room_id, user_id) DO UPDATE SET joined_at=excluded.joined_at",
                    (ev.room_id, ev.state_key, ev.ts / 1000),
                )

    def joined_at(self, room_id: str, user_id: str) -> float | None:
        return self.joins.get((room_id, user_id))

    # ---- guards ----------------------------------------------------------------------

    def protected(self, user_id: str) -> bool:
        """Staff and the bot are never the target of any moderation action."""
        return user_id == self.matrix.user_id or self.services.roles.is_staff(user_id)

    # ---- acting ----------------------------------------------------------------------

    async def act(
        self,
        action: Action,
        *,
        target: str,
        actor: str,
        reason: str,
        protection: str | None = None,
        room_id: str | None = None,
        event_id: str | None = None,
        event_ids: list[str] | None = None,
        shadow: bool = False,
        seconds: float | None = None,
        warn_html: str | None = None,
        undo_of: int | None = None,
    ) -> Outcome:
        """Do (or in shadow mode, pretend) one action; one audit row and one staff line.

        `event_ids` redacts several messages as one action (`!redact @user N`).
        """
        room = room_id or self.support
        if action not in ("unmute", "unban", "invite") and self.protected(target):
            raise Refused(f"{target} is staff (or the bot) and is never moderated")
        if action == "unmute" and not shadow and not await self.is_muted(room, target):
            raise Refused(f"{target} is not muted")
        detail: dict[str, Any] = {}
        error: str | None = None
        if not shadow:
            try:
                detail = await self._perform(
                    action, room, target, reason, event_ids or [event_id], seconds, warn_html
                )
            except MatrixError as exc:
                error = str(exc)
                log.warning("moderation %s of %s failed: %s", action, target, exc)
        audit_id = await self.store.execute(
            "INSERT INTO moderation_audit(ts, action, target, actor, protection, reason, room_id,"
            " event_id, shadow, ok, error, detail, undo_of) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                self.now(),
                action,
                target,
                actor,
                protection,
                reason,
                room,
                event_id,
                int(shadow),
                int(error is None),
                error,
                json.dumps(detail),
                undo_of,
            ),
        )
        if action == "mute" and not shadow and error is None:
            await self.store.execute(
                "INSERT INTO moderation_mutes(room_id, user_id, until, prev_level, audit_id) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(room_id, user_id) DO UPDATE SET "
                "until=excluded.until, audit_id=excluded.audit_id",
                (room, target, self.now() + (seconds or 0), detail.get("prev_level"), audit_id),
            )
        line = self._line(
            audit_id, action, target, actor, protection, reason, shadow, error, seconds
        )
        staff_event = await self.services.tell_staff(line)
        if staff_event:
            await self.store.execute(
                "UPDATE moderation_audit SET staff_event_id=? WHERE id=?", (staff_event, audit_id)
            )
        self.actions.labels(action, protection or "manual", str(shadow).lower()).inc()
        return Outcome(audit_id, error is None, shadow, line, error)

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
            for eid in event_ids:
                if eid:
                    await m.redact(room, eid, reason)
                    self.recent.discard(room, eid)
            return {"count": len(event_ids)}
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
        elif action == "ban":
            await m.ban(room, target, reason or None)
        elif action == "unban":
            await m.unban(room, target)
        elif action == "invite":
            await m.invite(room, target)
        return {}

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

    # ---- undo --------------------------------------------------------------------------

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

    # ---- timed unmutes -------------------------------------------------------------------

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

    async def history(self, limit: int = 10) -> list[dict[str, Any]]:
        return await self.store.fetchall(
            "SELECT * FROM moderation_audit ORDER BY id DESC LIMIT ?", (limit,)
        )


def describe(row: dict[str, Any]) -> str:
    """One audit row as short HTML (for listings)."""
    shadow = " (shadow)" if row["shadow"] else ""
    return (
        f"#{row['id']} {esc(row['action'])}{shadow} {code(row['target'])} by "
        f"{esc(row['protection'] or row['actor'])}: {esc(row['reason'])}"
    )
