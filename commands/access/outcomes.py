"""What access decisions and checks produce, and the small rules they share."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from bot.ratewindow import RateWindow
from commands.access.models import (
    MemberState,
)

if TYPE_CHECKING:
    pass


log = logging.getLogger(__name__)


# A handful of staff-room lines per check; beyond that one summary line, not a flood.
STAFF_LINES_PER_CHECK = 10
OPEN_JOIN_RULES = {"public", "restricted", "knock_restricted"}
GOOD_JOIN_RULES = {"invite", "knock", "private"}


class Outcome(StrEnum):
    admitted = "admitted"
    already = "already"
    reinvited = "reinvited"
    pending = "pending"
    requested = "requested"
    no_tier = "no_tier"
    unknown_org = "unknown_org"
    unknown_domain = "unknown_domain"


@dataclass
class JoinResult:
    outcome: Outcome
    html: str
    request_id: int | None = None


@dataclass
class Change:
    """A granted member who must go: ``state`` is expired or revoked."""

    user_id: str
    org_id: str
    state: MemberState
    why: str


@dataclass
class CheckReport:
    trigger: str
    members_checked: int = 0
    changes: list[Change] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    seconds: float = 0.0


class RateLimiter:
    """At most ``limit`` attempts per ``window`` seconds per key (in memory: a restart forgives)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._hits = RateWindow(window)

    def hit(self, key: str, now: float) -> float:
        """Record an attempt; 0 if allowed, else seconds until the next one is."""
        oldest = self._hits.oldest(key, now)
        if oldest is not None and self._hits.count(key, now) >= self.limit:
            return oldest + self.window - now
        self._hits.add(key, now)
        return 0.0


def next_daily(now: datetime, hour: int, minute: int) -> datetime:
    """The next HH:MM (UTC) strictly after ``now``."""
    due = now.astimezone(UTC).replace(hour=hour, minute=minute, second=0, microsecond=0)
    return due if due > now else due + timedelta(days=1)


def split_target(text: str) -> tuple[str | None, str | None]:
    """``!join`` takes an organisation id or an e-mail address: (org_id, email)."""
    text = text.strip()
    if "@" in text and not text.startswith("@"):
        return None, text.lower()
    return text.upper(), None
