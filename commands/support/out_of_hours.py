"""The out-of-hours reply: when staff are back, and how to reach them for a P1 meanwhile."""

from __future__ import annotations

from datetime import datetime

from bot.html import esc
from commands.support.calendar import SupportCalendar
from commands.support.settings import SupportSettings


def wants_reply(
    *, settings: SupportSettings, is_staff: bool, new_thread: bool, staffed: bool, is_edit: bool
) -> bool:
    """Only a customer's first message of a new thread, only while support is closed."""
    return (
        settings.out_of_hours_reply and not is_staff and new_thread and not staffed and not is_edit
    )


def reply_html(settings: SupportSettings, calendar: SupportCalendar, now: datetime) -> str:
    """The text from config with the actual next opening (holidays included)."""
    opening = calendar.next_opening(now)
    return settings.texts.out_of_hours.format(
        hours=esc(f"{settings.opens:%H:%M}–{settings.closes:%H:%M}"),
        tz=esc(settings.timezone),
        next_opening=esc(calendar.describe(opening)),
        phones=esc(" or ".join(settings.phones)),
        email=esc(settings.email),
    )


def already_answered(senders: list[str], *, bot: str, is_staff: object) -> bool:
    """True when the bot (an FAQ answer) or staff has written in the thread already."""
    return any(s == bot or is_staff(s) for s in senders)  # type: ignore[operator]
