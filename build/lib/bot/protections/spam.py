"""Spam and links: blocked words/links for every customer; links, mentions and media limited for
new members (hours since they joined). Allowlisted hosts (docs/status.safespring.com) never count.
"""

from __future__ import annotations

import re
from typing import ClassVar

from bot.events import Event
from bot.protections.common import BaseProtection, Verdict, host_allowed, hosts, is_media, mentioned
from bot.protections.moderator import Moderator
from bot.protections.settings import SpamSettings


class SpamProtection(BaseProtection):
    name: ClassVar[str] = "spam"
    settings: SpamSettings

    def __init__(self, moderator: Moderator, settings: SpamSettings) -> None:
        super().__init__(moderator, settings)
        self._words = [re.compile(w, re.I) for w in settings.blocked_words]
        self._links = [re.compile(w, re.I) for w in settings.blocked_links]

    def assess(self, ev: Event) -> Verdict | None:
        if ev.kind != "message":
            return None
        s = self.settings
        for w in self._words:
            if w.search(ev.body):
                return Verdict(reason="spam: blocked word", redact=True)
        foreign = [h for h in hosts(ev) if not host_allowed(h, s.allowed_domains)]
        for h in foreign:
            if any(p.search(h) for p in self._links):
                return Verdict(reason=f"spam: blocked link ({h})", redact=True)
        if not self.is_new(ev):
            return None
        hours = f"{s.new_member_hours:g} h"
        if len(foreign) > s.new_member_max_links:
            allowed = ", ".join(s.allowed_domains[:2])
            return Verdict(
                reason=f"new member: {len(foreign)} link(s) ({', '.join(sorted(set(foreign)))})",
                redact=True,
                notice=(
                    f"Your message in the support room was removed: during their first {hours} "
                    f"new members can't post links (links to {allowed} are fine). Please post "
                    "it again without the link, or describe what it points to."
                ),
            )
        users, _ = mentioned(ev)
        if len(users) > s.new_member_max_mentions:
            return Verdict(
                reason=f"new member: {len(users)} mentions",
                redact=True,
                notice=(
                    f"Your message in the support room was removed: during their first {hours} "
                    f"new members can mention at most {s.new_member_max_mentions} people at once."
                ),
            )
        if is_media(ev) and not s.new_member_media:
            return Verdict(
                reason="new member: media",
                redact=True,
                notice=(
                    f"Your upload in the support room was removed: during their first {hours} "
                    "new members can't post files or images. Please describe the problem in "
                    "text, staff can ask for files in a ticket."
                ),
            )
        return None

    def is_new(self, ev: Event) -> bool:
        joined = self.moderator.joined_at(ev.room_id, ev.sender)
        if joined is None:  # joined before the bot ever ran: not new
            return False
        return ev.ts / 1000 - joined < self.settings.new_member_hours * 3600
