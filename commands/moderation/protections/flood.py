"""Flood: too many messages or lines per window -> one strike; strikes climb warn -> mute -> kick."""

from __future__ import annotations

from collections import deque
from typing import ClassVar

from bot.events import Event
from commands.moderation.moderator import Moderator
from commands.moderation.protections.common import BaseProtection, Strikes, Verdict, ladder_step
from commands.moderation.settings import FloodSettings


class FloodProtection(BaseProtection):
    name: ClassVar[str] = "flood"
    settings: FloodSettings
    strikes: Strikes

    def __init__(self, moderator: Moderator, settings: FloodSettings) -> None:
        super().__init__(moderator, settings)
        # per user: (ts seconds, lines) of recent messages; server timestamps, so a slow
        # bot does not turn a calm conversation into a burst
        self._recent: dict[str, deque[tuple[float, int]]] = {}
        self.strikes = Strikes(settings.strike_memory_minutes * 60)

    def assess(self, ev: Event) -> Verdict | None:
        if ev.kind != "message":
            return None
        s = self.settings
        now = ev.ts / 1000
        q = self._recent.setdefault(ev.sender, deque())
        q.append((now, ev.body.count("\n") + 1))
        while q and now - q[0][0] > s.window_seconds:
            q.popleft()
        messages = len(q)
        lines = sum(n for _, n in q)
        if messages <= s.max_messages and lines <= s.max_lines:
            return None
        q.clear()  # the next strike needs a fresh burst
        strike = self.strikes.add(ev.sender, now)
        step = ladder_step(s.ladder, strike)
        why = (
            f"{messages} messages in {s.window_seconds:g} s"
            if messages > s.max_messages
            else f"{lines} lines in {s.window_seconds:g} s"
        )
        reason = f"flood: {why} (strike {strike})"
        seconds = s.mute_minutes * 60 if step == "mute" else None
        return Verdict(
            reason=reason,
            step=step,
            seconds=seconds,
            warn=(
                "please slow down: you are sending messages faster than this room allows. "
                "Next time you will be muted for a while. Paste long logs as a file or in a "
                "ticket instead."
            ),
        )
