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
from typing import Any

from prometheus_client import Counter

from bot.context import Services
from bot.events import Event
from bot.matrix import MatrixError
from commands.moderation.audit import AuditTrail
from commands.moderation.base import (
    MIGRATIONS,
    RECENT_MAX_AGE,
    RECENT_PER_USER,
    UNDO_KEY,
    Action,
    NotAnAction,
    Outcome,
    Refused,
    Switch,
    _Recent,
)
from commands.moderation.consequences import Consequences
from commands.moderation.protections.names import MemberNames
from commands.moderation.redactions import RedactionQueue
from commands.moderation.settings import ModerationSettings, ProtectionSwitch

log = logging.getLogger(__name__)

# The moderation vocabulary is defined in base.py; callers import it from here.
__all__ = [
    "MIGRATIONS",
    "UNDO_KEY",
    "Action",
    "Moderator",
    "NotAnAction",
    "Outcome",
    "Refused",
    "Switch",
    "_Recent",
]


class Moderator(Consequences, AuditTrail):
    def __init__(self, services: Services, settings: ModerationSettings) -> None:
        self.services = services
        self.settings = settings
        self.store = services.store
        self.matrix = services.matrix
        self.support = services.config.rooms.support
        self.recent = _Recent(RECENT_PER_USER, RECENT_MAX_AGE)
        self.names = MemberNames(settings.mentions.min_name_length)
        self.redactions = RedactionQueue(
            self.store, self.matrix, self.now, services.metrics.registry
        )
        self.redactions.on_batch_done = self.redactions_settled
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

    async def load(self) -> None:
        for row in await self.store.fetchall("SELECT * FROM moderation_switches"):
            self._switches[row["protection"]] = Switch(bool(row["enabled"]), bool(row["shadow"]))
        for row in await self.store.fetchall("SELECT * FROM moderation_joins"):
            self.joins[(row["room_id"], row["user_id"])] = float(row["joined_at"])
        await self.recent.load(self.store, self.now())

    def now(self) -> float:
        return self.services.clock().timestamp()

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

    async def observe(self, ev: Event) -> None:
        """Track joins (for new-member limits), message ids (for `!redact`) and member names."""
        if not self.names.loaded:  # the room's members as the first sync showed them
            members = self.matrix.member_display_names(self.support)
            if members is not None:
                self.names.load(members)
        if ev.kind == "message":
            if not ev.is_edit:
                await self.recent.add(ev.room_id, ev.sender, ev.event_id, ev.ts / 1000)
        elif ev.kind == "redaction" and ev.relates_to:
            await self.recent.discard(ev.room_id, ev.relates_to)
        elif ev.kind == "member" and ev.state_key:
            if ev.membership == "join":
                name = ev.content.get("displayname")
                self.names.put(ev.state_key, name if isinstance(name, str) else None)
            else:
                self.names.remove(ev.state_key)
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

    def protected(self, user_id: str) -> bool:
        """Staff and the bot are never the target of any moderation action."""
        return user_id == self.matrix.user_id or self.services.roles.is_staff(user_id)

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
        queue_rows: list[int] = []
        if not shadow:
            try:
                ids: list[str | None] = list(event_ids) if event_ids else [event_id]
                detail = await self._perform(action, room, target, reason, ids, seconds, warn_html)
                queue_rows = detail.pop("_rows", [])
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
        if detail.get("queued"):
            await self.redactions.adopt(queue_rows, audit_id)
            still = (await self.redactions.state(queue_rows)).pending
            if still:
                line += (
                    f" ({still} of {detail['count']} queued: the homeserver limits how fast the"
                    " bot may redact; staff hear when they are done)"
                )
        staff_event = await self.services.tell_staff(line)
        if staff_event:
            await self.store.execute(
                "UPDATE moderation_audit SET staff_event_id=? WHERE id=?", (staff_event, audit_id)
            )
        self.actions.labels(action, protection or "manual", str(shadow).lower()).inc()
        return Outcome(audit_id, error is None, shadow, line, error)
