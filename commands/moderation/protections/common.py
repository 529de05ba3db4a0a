"""What every protection shares: the gate (who/where/backlog/on-off/shadow), strikes, text parsing.

A protection splits into a pure `assess(event) -> Verdict | None` (fast, no I/O, benchmarked)
and `enforce(ctx, verdict, shadow)` which acts through the Moderator.
"""

from __future__ import annotations

import html
import re
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from bot.context import EventContext
from bot.events import Event
from bot.html import esc, user_pill
from bot.ids import MXID_IN_TEXT, PILL
from bot.ratewindow import RateWindow
from bot.roles import Place
from commands.moderation.moderator import Moderator, Refused
from commands.moderation.settings import ProtectionSwitch, Step

if TYPE_CHECKING:
    from bot.store import Store
    from commands.moderation.protections.names import MemberNames


@dataclass(frozen=True)
class Verdict:
    """What a protection wants done about one event. `reason` never quotes a secret."""

    reason: str
    redact: bool = False
    step: Step | None = None  # warn / mute / kick, after a strike
    notice: str | None = None  # plain text told to the sender (DM), e.g. why a link was removed
    warn: str | None = None  # plain text of the in-room warning (step "warn")
    seconds: float | None = None  # mute length


class BaseProtection:
    name: ClassVar[str]
    # Punitive protections ignore the downtime backlog; credentials may opt in (protective).
    acts_on_backlog: ClassVar[bool] = False
    # A protection with a ladder keeps its strikes here; they are stored, so a restart forgives
    # nothing (loaded before the first assess, saved after each).
    strikes: Strikes | None = None

    def __init__(self, moderator: Moderator, settings: ProtectionSwitch) -> None:
        self.moderator = moderator
        self.settings = settings

    @property
    def mode(self) -> tuple[bool, bool]:
        sw = self.moderator.switch(self.name, self.settings)
        return sw.enabled and self.moderator.settings.enabled, sw.shadow

    def exempt(self, ctx: EventContext) -> bool:
        return ctx.is_staff or self.moderator.protected(ctx.event.sender)

    async def handle(self, ctx: EventContext) -> bool:
        enabled, shadow = self.mode
        ev = ctx.event
        if not enabled or ctx.place is not Place.support or ev.room_id != self.moderator.support:
            return False
        if ev.backlog and not self.acts_on_backlog:
            return False
        if self.exempt(ctx):
            return False
        strikes = self.strikes
        if strikes is not None and not strikes.loaded:
            await strikes.load(self.moderator.store, self.name)
        verdict = self.assess(ev)
        if strikes is not None:
            await strikes.flush(self.moderator.store, self.name)
        if verdict is None:
            return False
        await self.enforce(ctx, verdict, shadow)
        # A redacted message must not reach commands, FAQ answers or ticket transcripts.
        return verdict.redact and not shadow

    def assess(self, ev: Event) -> Verdict | None:
        raise NotImplementedError

    async def enforce(self, ctx: EventContext, verdict: Verdict, shadow: bool) -> None:
        """Default enforcement: redact and/or take the ladder step, then tell the sender."""
        ev = ctx.event
        mod = self.moderator
        common: dict[str, Any] = {
            "target": ev.sender,
            "actor": mod.matrix.user_id,
            "protection": self.name,
            "shadow": shadow,
            "room_id": ev.room_id,
        }
        try:
            if verdict.redact:
                await mod.act("redact", reason=verdict.reason, event_id=ev.event_id, **common)
            if verdict.step == "warn":
                text = verdict.warn or verdict.reason
                await mod.act(
                    "warn",
                    reason=verdict.reason,
                    event_id=None if verdict.redact else ev.thread_id,
                    warn_html=f"{user_pill(ev.sender)}, {esc(text)}",
                    **common,
                )
            elif verdict.step == "mute":
                await mod.act("mute", reason=verdict.reason, seconds=verdict.seconds, **common)
            elif verdict.step == "kick":
                await mod.act("kick", reason=verdict.reason, **common)
        except Refused:
            return
        if verdict.notice and not shadow:
            await tell_sender(ctx, verdict.notice)


async def tell_sender(ctx: EventContext, plain: str) -> None:
    try:
        await ctx.matrix.send_dm(ctx.event.sender, esc(plain).replace("\n", "<br>"), plain)
    except Exception:  # a DM failing must not undo the protection
        ctx.services.metrics.errors.labels("moderation_dm").inc()


class Strikes(RateWindow):
    """Strikes per user within a memory window, kept in `moderation_strikes` across restarts.

    `add` stays synchronous (assess is pure); the strikes it records wait in memory until the
    protection's handle() flushes them, right after the assess that made them.
    """

    def __init__(self, memory_seconds: float) -> None:
        super().__init__(memory_seconds, keep_edge=True)
        self.loaded = False
        self._unsaved: list[tuple[str, float]] = []

    def add(self, key: str, now: float) -> int:
        self._unsaved.append((key, now))
        return super().add(key, now)

    async def load(self, store: Store, protection: str) -> None:
        """The strikes of earlier runs, oldest first, before anything new is added."""
        rows = await store.fetchall(
            "SELECT user_id, ts FROM moderation_strikes WHERE protection=? ORDER BY ts",
            (protection,),
        )
        if self.loaded:  # another event's handle() loaded them meanwhile
            return
        fresh = dict(self._at)
        self._at = {}
        for row in rows:
            self._at.setdefault(row["user_id"], deque()).append(float(row["ts"]))
        for key, times in fresh.items():
            self._at.setdefault(key, deque()).extend(times)
        self.loaded = True

    async def flush(self, store: Store, protection: str) -> None:
        if not self._unsaved:
            return
        rows, self._unsaved = self._unsaved, []
        await store.executemany(
            "INSERT INTO moderation_strikes(protection, user_id, ts) VALUES (?, ?, ?)",
            [(protection, key, ts) for key, ts in rows],
        )
        # Strikes older than the memory window can never count again.
        newest = max(ts for _, ts in rows)
        await store.execute(
            "DELETE FROM moderation_strikes WHERE protection=? AND ts < ?",
            (protection, newest - self.window - 1),
        )


def ladder_step(ladder: list[Step], strike: int) -> Step:
    return ladder[min(strike, len(ladder)) - 1]


# ---- message parsing -------------------------------------------------------------------------

_URL = re.compile(
    r"(?i)\b(?:https?|ftp)://[^\s<>\"'`]+|\bwww\.[a-z0-9-]+(?:\.[a-z0-9-]+)+[^\s<>\"'`]*"
)
_HREF = re.compile(r"""(?i)href\s*=\s*["']([^"']+)["']""")
_PILL = PILL
_MXID = MXID_IN_TEXT
MEDIA_TYPES = frozenset({"m.image", "m.file", "m.video", "m.audio", "m.sticker"})


def formatted(ev: Event) -> str:
    fb = ev.content.get("formatted_body")
    if ev.is_edit:
        nc = ev.content.get("m.new_content") or {}
        fb = nc.get("formatted_body") if isinstance(nc, dict) else None
    return fb if isinstance(fb, str) else ""


def hosts(ev: Event) -> list[str]:
    """Host names of the links in a message (plain body and HTML hrefs)."""
    urls = _URL.findall(ev.body)
    urls += [u for u in _HREF.findall(formatted(ev)) if not u.startswith("https://matrix.to/")]
    out: list[str] = []
    for u in urls:
        u = html.unescape(u)
        if u.lower().startswith("www."):
            u = "http://" + u
        try:
            host = urlsplit(u).hostname
        except ValueError:
            continue
        if host:
            out.append(host.lower().rstrip("."))
    return out


def host_allowed(host: str, allowed: list[str]) -> bool:
    return any(host == a or host.endswith("." + a) for a in allowed)


def mentioned(ev: Event, names: MemberNames | None = None) -> tuple[set[str], bool]:
    """Users a message pings (m.mentions, pills, bare MXIDs) and whether it pings @room.

    With ``names`` (the room's members), a message without `m.mentions` also pings everyone
    whose display name or localpart it contains as a word: the legacy push rules do that, and
    only for events without `m.mentions` (see names.py).
    """
    users: set[str] = set()
    mentions = ev.content.get("m.mentions")
    room = False
    if isinstance(mentions, dict):
        ids = mentions.get("user_ids")
        if isinstance(ids, list):
            users.update(i for i in ids if isinstance(i, str))
        room = mentions.get("room") is True
    elif names is not None and "m.mentions" not in ev.content:
        users.update(names.pinged(ev.body))
    users.update(_PILL.findall(formatted(ev)))
    users.update(m for m in _MXID.findall(ev.body))
    # Only an intentional @room (m.mentions.room) counts: a body that merely contains the word
    # (quoted, escaped, or from a customer who lacks the power to notify the room) pings nobody.
    return users, room


def is_media(ev: Event) -> bool:
    return ev.msgtype in MEDIA_TYPES or ev.media_url is not None or ev.type == "m.sticker"
