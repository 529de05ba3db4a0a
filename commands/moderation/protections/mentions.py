"""Mention abuse: a customer pinging many staff, many people, or @room in one message.

People count as pinged through `m.mentions`, pills, bare user ids and, in a message without
`m.mentions`, their display name or localpart as a word (the legacy push rules; names.py).
"""

from __future__ import annotations

from typing import ClassVar

from bot.events import Event
from commands.moderation.moderator import Moderator
from commands.moderation.protections.common import (
    BaseProtection,
    Strikes,
    Verdict,
    ladder_step,
    mentioned,
)
from commands.moderation.settings import MentionSettings


class MentionProtection(BaseProtection):
    name: ClassVar[str] = "mentions"
    settings: MentionSettings
    strikes: Strikes

    def __init__(self, moderator: Moderator, settings: MentionSettings) -> None:
        super().__init__(moderator, settings)
        self.strikes = Strikes(settings.strike_memory_minutes * 60)

    def assess(self, ev: Event) -> Verdict | None:
        if ev.kind != "message" or ev.is_edit:
            return None
        s = self.settings
        names = self.moderator.names if s.display_names else None
        users, room = mentioned(ev, names)
        users.discard(ev.sender)
        users.discard(self.moderator.matrix.user_id)
        roles = self.moderator.services.roles
        staff = sum(1 for u in users if roles.is_staff(u))
        if room and not s.room_mention:
            why = "@room"
        elif staff > s.max_staff_mentions:
            why = f"{staff} staff mentioned"
        elif len(users) > s.max_mentions:
            why = f"{len(users)} people mentioned"
        else:
            return None
        strike = self.strikes.add(ev.sender, ev.ts / 1000)
        step = ladder_step(s.ladder, strike)
        return Verdict(
            reason=f"mention abuse: {why} (strike {strike})",
            redact=True,
            step=step,
            seconds=s.mute_minutes * 60 if step == "mute" else None,
            notice=(
                "Your message in the support room was removed because it mentioned "
                f"{'the whole room' if why == '@room' else 'too many people'}. Engineers read "
                "every message in the room, so please post it again without the mentions. For "
                "urgent problems ask for a ticket (!ticket P1)."
            ),
        )
