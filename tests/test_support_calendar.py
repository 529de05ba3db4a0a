"""The support calendar: Swedish and Norwegian holidays, weekends, DST, staffed-time math."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from bot.cli import main
from commands.support.calendar import SupportCalendar
from commands.support.settings import SupportSettings
from tests.test_config import GOOD, write

STO = ZoneInfo("Europe/Stockholm")
cal = SupportCalendar(SupportSettings())


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=STO)


@pytest.mark.parametrize(
    ("moment", "staffed"),
    [
        (local(2026, 6, 17, 10), True),  # an ordinary Wednesday
        (local(2026, 6, 17, 7, 59), False),
        (local(2026, 6, 17, 17, 0), False),  # closes at 17:00 sharp
        (local(2026, 6, 17, 16, 59), True),
        (local(2026, 6, 19, 10), False),  # Midsummer Eve (Sweden, de facto)
        (local(2026, 5, 18, 10), True),  # Monday after the Norwegian Constitution Day
        (local(2027, 5, 17, 10), False),  # Constitution Day on a Monday (Norway)
        (local(2026, 6, 6, 10), False),  # Swedish National Day (a Saturday anyway)
        (local(2025, 6, 6, 10), False),  # ... and on a Friday
        (local(2026, 12, 24, 10), False),  # Christmas Eve
        (local(2026, 12, 25, 10), False),
        (local(2026, 12, 28, 10), True),
        (local(2026, 4, 2, 10), False),  # Maundy Thursday: Norway only, "any" closes
        (local(2026, 5, 25, 10), False),  # Whit Monday: Norway only
        (local(2026, 6, 20, 10), False),  # a Saturday
    ],
)
def test_is_staffed(moment: datetime, staffed: bool) -> None:
    assert cal.is_staffed(moment) is staffed


def test_holiday_rule_all_keeps_norway_only_days_open() -> None:
    both = SupportCalendar(SupportSettings(holiday_rule="all"))
    assert both.is_staffed(local(2027, 5, 17, 10))  # only Norway is off
    assert not both.is_staffed(local(2026, 12, 25, 10))  # off in both


def test_next_opening_crosses_weekend_and_holidays() -> None:
    # Friday evening -> Monday 08:00
    assert cal.next_opening(local(2026, 6, 12, 18)) == local(2026, 6, 15, 8)
    # Thursday before Midsummer, after hours -> Monday 22 June (Fri 19 Eve, Sat, Sun)
    assert cal.next_opening(local(2026, 6, 18, 17, 30)) == local(2026, 6, 22, 8)
    # Christmas: 23 Dec evening -> 28 Dec (24, 25 holidays, 26-27 weekend)
    assert cal.next_opening(local(2026, 12, 23, 20)) == local(2026, 12, 28, 8)
    # Easter 2026: Wed 1 Apr evening -> Tue 7 Apr (Maundy Thu NO, Good Fri, Easter Mon)
    assert cal.next_opening(local(2026, 4, 1, 20)) == local(2026, 4, 7, 8)
    # early morning the same day
    assert cal.next_opening(local(2026, 6, 17, 6)) == local(2026, 6, 17, 8)
    # while staffed: now
    now = local(2026, 6, 17, 9)
    assert cal.next_opening(now) == now


def test_dst_changes_follow_the_wall_clock() -> None:
    # 2026-03-29 clocks go forward; Monday 30 March opens at 08:00 CEST = 06:00 UTC
    assert cal.next_opening(local(2026, 3, 27, 18)) == datetime(2026, 3, 30, 6, tzinfo=UTC)
    # Friday 27 March opened at 08:00 CET = 07:00 UTC
    assert not cal.is_staffed(datetime(2026, 3, 27, 6, 30, tzinfo=UTC))
    assert cal.is_staffed(datetime(2026, 3, 30, 6, 30, tzinfo=UTC))
    # 2026-10-25 clocks go back; Monday 26 Oct opens at 07:00 UTC again
    assert cal.next_opening(local(2026, 10, 23, 18)) == datetime(2026, 10, 26, 7, tzinfo=UTC)
    # a full staffed day is 9 h on both sides of the change
    for day in (local(2026, 3, 27), local(2026, 3, 30), local(2026, 10, 26)):
        assert cal.staffed_seconds_between(day, day + timedelta(days=1)) == 9 * 3600


def test_staffed_seconds_between() -> None:
    # Friday 16:00 -> Monday 09:00: one hour on Friday, one on Monday
    assert cal.staffed_seconds_between(local(2026, 6, 12, 16), local(2026, 6, 15, 9)) == 7200
    # a whole ordinary week: 5 x 9 h
    week = cal.staffed_seconds_between(local(2026, 6, 8), local(2026, 6, 15))
    assert week == 5 * 9 * 3600
    # the Midsummer week 2026: Friday is off
    assert cal.staffed_seconds_between(local(2026, 6, 15), local(2026, 6, 22)) == 4 * 9 * 3600
    assert cal.staffed_seconds_between(local(2026, 6, 15, 12), local(2026, 6, 15, 11)) == 0


def test_add_staffed_is_the_inverse() -> None:
    start = local(2026, 6, 18, 16, 30)  # Thursday before Midsummer, 30 minutes left
    due = cal.add_staffed(start, 3600)
    assert due == local(2026, 6, 22, 8, 30)
    assert cal.staffed_seconds_between(start, due) == 3600
    # starting at night counts from the opening
    assert cal.add_staffed(local(2026, 6, 17, 2), 60) == local(2026, 6, 17, 8, 1)


def test_describe() -> None:
    assert cal.describe(local(2026, 6, 22, 8)) == "Monday 22 June 08:00 CEST"


@pytest.mark.parametrize(
    ("patch", "needle"),
    [
        ({"timezone": "Europe/Stokholm"}, "unknown time zone"),
        ({"holiday_countries": ["SE", "XX"]}, "unknown holiday country"),
        ({"sla": {"tickets": {"P4": {"standard": 10}}}}, "unknown severity"),
        ({"sla": {"around_the_clock": ["P0"]}}, "unknown severity"),
        ({"opens": "18:00"}, "closes must be later"),
        ({"holiday_categories": {"SE": ["nope"]}}, "unknown category"),
        ({"sla_warn_share": 1.5}, "less than 1"),
    ],
)
def test_settings_validation(patch: dict, needle: str) -> None:
    with pytest.raises(ValidationError) as err:
        SupportSettings.model_validate(patch)
    assert needle in str(err.value)


def test_check_config_names_support_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = (
        GOOD
        + '\n[support]\ntimezone = "Mars/Olympus"\nholiday_countries = ["SE", "QQ"]\n'
        + "[support.sla.tickets]\nP7 = { standard = 5 }\n"
    )
    with pytest.raises(SystemExit) as exit_:
        main(["check-config", str(write(tmp_path, bad))])
    assert exit_.value.code == 2
    out = capsys.readouterr().err
    assert "support.timezone" in out and "Mars/Olympus" in out
    assert "support.holiday_countries" in out and "QQ" in out
    assert "support.sla.tickets" in out and "P7" in out


@pytest.mark.parametrize(
    ("by", "staff"),
    [
        ("agent", True),
        ("", True),
        ("someone@customer.example", False),
        ("OWNER@EXAMPLE.COM", False),
    ],
)
def test_customer_mail_to_rt_does_not_stop_the_sla(by: str, staff: bool) -> None:
    from bot.interfaces import TicketEvent
    from commands.support.commands import is_staff_correspondence

    ev = TicketEvent(
        kind="correspondence", room_id="!r", thread_id="$t", by=by, requestor="owner@example.com"
    )
    assert is_staff_correspondence(ev) is staff
