"""What every protection shares: the gate (who/where/backlog/on-off/shadow), strikes, text parsing.

A protection splits into a pure `assess(event) -> Verdict | None` (fast, no I/O, benchmarked)
and `enforce(ctx, verdict, shadow)` which acts through the Moderator.
"""

from __future__ import annotations

import html
import re
from collections import deque
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import urlsplit

from bot.context import EventContext
from bot.events import Event
from bot.html import esc, user_pill
from bot.protections.moderator import Moderator, Refused
from bot.protections.settings import ProtectionSwitch, Step
from bot.roles import Place


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
        verdict = self.assess(ev)
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
        common = {
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


@dataclass
class Strikes:
    """Strikes per user within a memory window (in memory: a restart forgives)."""

    memory_seconds: float
    _at: dict[str, deque[float]] = field(default_factory=dict)

    def add(self, user_id: str, now: float) -> int:
        q = self._at.setdefault(user_id, deque())
        while q and now - q[0] > self.memory_seconds:
            q.popleft()
        q.append(now)
        return len(q)


def ladder_step(ladder: list[Step], strike: int) -> Step:
    return ladder[min(strike, len(ladder)) - 1]


# ---- message parsing -------------------------------------------------------------------------

_URL = re.compile(
    r"(?i)\b(?:https?|ftp)://[^\s<>\"'`]+|\bwww\.[a-z0-9-]+(?:\.[a-z0-9-]+)+[^\s<>\"'`]*"
)
_HREF = re.compile(r"""(?i)href\s*=\s*["']([^"']+)["']""")
_PILL = re.compile(r"https://matrix\.to/#/(@[^\"'<>?\s]+)")
_MXID = re.compile(r"(?<![\w@])@[a-z0-9._=/+-]+:[a-z0-9.-]+(?::\d+)?", re.I)
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


def mentioned(ev: Event) -> tuple[set[str], bool]:
    """Users a message pings (m.mentions, pills, bare MXIDs) and whether it pings @room."""
    users: set[str] = set()
    mentions = ev.content.get("m.mentions")
    room = False
    if isinstance(mentions, dict):
        ids = mentions.get("user_ids")
        if isinstance(ids, list):
            users.update(i for i in ids if isinstance(i, str))
        room = mentions.get("room") is True
    users.update(_PILL.findall(formatted(ev)))
    users.update(m for m in _MXID.findall(ev.body))
    # Only an intentional @room (m.mentions.room) counts: a body that merely contains the word
    # (quoted, escaped, or from a customer who lacks the power to notify the room) pings nobody.
    return users, room


def is_media(ev: Event) -> bool:
    return ev.msgtype in MEDIA_TYPES or ev.media_url is not None or ev.type == "m.sticker"
