"""When support is staffed: hours in a time zone, workdays, and public holidays.

Every feature asks here ("is support staffed now, and when next?", "how much staffed time
lies between two moments?"), so hours, holidays and DST are handled in one place. Times in
and out are timezone-aware datetimes; local opening hours are turned into UTC per day, so a
DST change moves the opening with the wall clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from commands.support.settings import SupportSettings

MAX_DAYS_AHEAD = 60  # no setting closes support for longer; beyond this there is a bug


class SupportCalendar:
    def __init__(self, settings: SupportSettings) -> None:
        self.settings = settings
        self.tz = ZoneInfo(settings.timezone)
        self._calendars = [
            holidays.country_holidays(
                code, categories=tuple(settings.holiday_categories.get(code, ["public"]))
            )
            for code in settings.holiday_countries
        ]
        self._workdays = frozenset(settings.workdays)
        self.is_open_day = lru_cache(maxsize=4096)(self._is_open_day)

    # ---- days

    def holiday_names(self, day: date) -> list[str]:
        return [name for cal in self._calendars if (name := cal.get(day))]

    def _is_open_day(self, day: date) -> bool:
        if day.weekday() not in self._workdays:
            return False
        off = [day in cal for cal in self._calendars]
        if not off:
            return True
        return not (any(off) if self.settings.holiday_rule == "any" else all(off))

    def _window(self, day: date) -> tuple[datetime, datetime]:
        """The day's staffed interval in UTC (local wall-clock hours, so DST is honoured)."""
        s = self.settings
        return (
            datetime.combine(day, s.opens, self.tz).astimezone(UTC),
            datetime.combine(day, s.closes, self.tz).astimezone(UTC),
        )

    # ---- moments

    def is_staffed(self, at: datetime) -> bool:
        local = at.astimezone(self.tz)
        if not self.is_open_day(local.date()):
            return False
        start, end = self._window(local.date())
        return start <= at < end

    def next_opening(self, at: datetime) -> datetime:
        """The next moment support opens, strictly after ``at`` when closed, else ``at``."""
        if self.is_staffed(at):
            return at
        day = at.astimezone(self.tz).date()
        for _ in range(MAX_DAYS_AHEAD):
            if self.is_open_day(day):
                start, _end = self._window(day)
                if start > at:
                    return start
            day += timedelta(days=1)
        raise ValueError(f"support is never open within {MAX_DAYS_AHEAD} days of {at}")

    def staffed_seconds_between(self, a: datetime, b: datetime) -> float:
        if b <= a:
            return 0.0
        total = 0.0
        day = a.astimezone(self.tz).date()
        last = b.astimezone(self.tz).date()
        while day <= last:
            if self.is_open_day(day):
                start, end = self._window(day)
                lo, hi = max(start, a), min(end, b)
                if hi > lo:
                    total += (hi - lo).total_seconds()
            day += timedelta(days=1)
        return total

    def add_staffed(self, start: datetime, seconds: float) -> datetime:
        """The moment at which ``seconds`` of staffed time have passed since ``start``."""
        left = float(seconds)
        day = start.astimezone(self.tz).date()
        for _ in range(MAX_DAYS_AHEAD * 20):
            if self.is_open_day(day):
                w_start, w_end = self._window(day)
                lo = max(w_start, start)
                if w_end > lo:
                    span = (w_end - lo).total_seconds()
                    if span >= left:
                        return lo + timedelta(seconds=left)
                    left -= span
            day += timedelta(days=1)
        raise ValueError("staffed time target too far in the future")

    def describe(self, at: datetime) -> str:
        """'Monday 2 June 08:00 CEST' in the support time zone."""
        local = at.astimezone(self.tz)
        return f"{local:%A} {local.day} {local:%B %H:%M %Z}"
