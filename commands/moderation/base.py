"""Moderation's shared vocabulary (actions, outcomes, tables); the one place that acts on people: redact, warn, mute, kick, ban, and their undo, all audited.

Automatic protections and moderator commands both go through `Moderator.act`, so every action
(or, in shadow mode, every would-be action) becomes one `moderation_audit` row and one line in
the staff room, and staff and the bot itself can never be the target. Reasons are built by the
callers from kinds and counts only; nothing here ever sees a credential's value.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from prometheus_client import Counter

from bot.context import Services
from bot.matrix import MatrixGateway
from bot.store import Store
from commands.moderation.protections.names import MemberNames
from commands.moderation.recent import RecentMessages
from commands.moderation.redactions import RedactionQueue
from commands.moderation.settings import ModerationSettings

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
_Recent = RecentMessages  # the name moderator.py has always exported
RECENT_PER_USER = 500
RECENT_MAX_AGE = 7 * 86400  # `!redact @user N` is for this week's messages
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
    # Strikes, `!redact N` memory and pending redactions survive a restart.
    """
    CREATE TABLE moderation_strikes (
      protection TEXT NOT NULL,
      user_id TEXT NOT NULL,
      ts REAL NOT NULL
    );
    CREATE INDEX moderation_strikes_at ON moderation_strikes(protection, ts);
    CREATE TABLE moderation_recent (
      room_id TEXT NOT NULL,
      user_id TEXT NOT NULL,
      event_id TEXT NOT NULL,
      ts REAL NOT NULL,
      PRIMARY KEY (room_id, event_id)
    );
    CREATE INDEX moderation_recent_user ON moderation_recent(room_id, user_id, ts);
    CREATE TABLE moderation_redactions (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      room_id TEXT NOT NULL,
      event_id TEXT NOT NULL,
      reason TEXT NOT NULL DEFAULT '',
      audit_id INTEGER,
      txn_id TEXT NOT NULL,
      state TEXT NOT NULL DEFAULT 'pending',
      attempts INTEGER NOT NULL DEFAULT 0,
      not_before REAL NOT NULL DEFAULT 0,
      error TEXT,
      queued_at REAL NOT NULL,
      done_at REAL,
      UNIQUE (room_id, event_id)
    );
    CREATE INDEX moderation_redactions_state ON moderation_redactions(state, id)
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


def fmt_duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


class ModeratorBase:
    """What the moderator's parts share (set by Moderator.__init__)."""

    services: Services
    settings: ModerationSettings
    store: Store
    matrix: MatrixGateway
    support: str
    recent: _Recent
    names: MemberNames
    redactions: RedactionQueue
    actions: Counter
    _lock: asyncio.Lock

    if TYPE_CHECKING:  # moderator.py: the one entry point, and its clock

        def now(self) -> float: ...

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
        ) -> Outcome: ...
