"""`[support]`: support hours, holidays, SLA targets, out-of-hours text, Statuspage.

Defaults are Safespring's facts: written support 08:00-17:00 Europe/Stockholm on Swedish
and Norwegian workdays, P1 by phone around the clock, severities P1-P3.
"""

from __future__ import annotations

from datetime import time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import Field, SecretStr, field_validator, model_validator

from bot.settings_base import Section

SEVERITIES = ("P1", "P2", "P3")


class SLATargets(Section):
    """First-response targets in minutes (P1 counts around the clock, the rest staffed time)."""

    thread_minutes: float = Field(
        default=60, gt=0, description="a customer thread that is not a ticket"
    )
    # severity -> tier -> minutes; a tier not listed uses "standard".
    tickets: dict[str, dict[str, float]] = Field(
        default_factory=lambda: {
            "P1": {"standard": 30.0, "premium": 15.0},
            "P2": {"standard": 240.0, "premium": 120.0},
            "P3": {"standard": 480.0, "premium": 240.0},
        }
    )
    around_the_clock: list[str] = Field(
        default_factory=lambda: ["P1"], description="severities counted 24/7"
    )

    @field_validator("tickets")
    @classmethod
    def _severities(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for sev, tiers in value.items():
            if sev not in SEVERITIES:
                raise ValueError(f"unknown severity {sev!r}; use one of {', '.join(SEVERITIES)}")
            for tier, minutes in tiers.items():
                if minutes <= 0:
                    raise ValueError(f"{sev}.{tier}: a target must be more than 0 minutes")
        return value

    @field_validator("around_the_clock")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        bad = [s for s in value if s not in SEVERITIES]
        if bad:
            raise ValueError(f"unknown severity {bad[0]!r}; use one of {', '.join(SEVERITIES)}")
        return value

    def ticket_minutes(self, severity: str, tier: str | None) -> float:
        tiers = self.tickets.get(severity) or {}
        return float(tiers.get(tier or "standard") or tiers.get("standard") or self.thread_minutes)


class StatuspageSettings(Section):
    """Atlassian Statuspage: webhooks to /hooks/statuspage/<token>, polling as the fallback."""

    enabled: bool = False
    page_url: str = Field(
        default="https://status.safespring.com", description="public page (summary.json below it)"
    )
    webhook_token: SecretStr | None = Field(
        default=None, description="secret path part of the webhook URL; webhooks off when unset"
    )
    poll_seconds: float = Field(default=300, ge=0, description="0 turns polling off")
    timeout_seconds: float = Field(default=10, gt=0)
    # Words that make a customer message a question about an outage.
    down_words: list[str] = Field(
        default_factory=lambda: [
            "down",
            "outage",
            "not working",
            "unreachable",
            "unavailable",
            "broken",
            "fungerar inte",
            "nere",
        ]
    )

    @field_validator("page_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("page_url must start with http:// or https://")
        return value.rstrip("/")


class SupportTexts(Section):
    out_of_hours: str = Field(
        default=(
            "Thanks for your message. Support is staffed {hours} ({tz}) on Swedish and "
            "Norwegian workdays; we are back <b>{next_opening}</b>, and an engineer will answer "
            "here then. For a P1 (production down) call us 24/7 on {phones}, and e-mail {email}."
        ),
        description="placeholders: {hours} {tz} {next_opening} {phones} {email}",
    )
    sla_warning: str = "⏳ First response due in {left} for {what} (waiting since {since})."
    sla_breach: str = "🚨 First-response target missed for {what} (waiting since {since})."
    survey: str = (
        "Your ticket {ticket} is resolved. Were you happy with the help you got? "
        "React 👍 or 👎 on this message."
    )
    survey_thanks: str = "Thanks for the feedback!"


class SupportSettings(Section):
    enabled: bool = True
    timezone: str = "Europe/Stockholm"
    opens: time = time(8, 0)
    closes: time = time(17, 0)
    workdays: list[int] = Field(
        default_factory=lambda: [0, 1, 2, 3, 4], description="0 = Monday ... 6 = Sunday"
    )
    holiday_countries: list[str] = Field(default_factory=lambda: ["SE", "NO"])
    # Categories per country (the `holidays` package's names); a country not listed: public.
    # Sweden's de facto days off (Midsummer Eve, Christmas Eve, New Year's Eve) close support.
    holiday_categories: dict[str, list[str]] = Field(
        default_factory=lambda: {"SE": ["public", "de_facto"], "NO": ["public"]}
    )
    # "any": a holiday in any listed country closes support (the office is not fully staffed
    # and promising an answer that day would be wrong); "all": only days off everywhere close it.
    holiday_rule: Literal["any", "all"] = "any"
    phones: list[str] = Field(default_factory=lambda: ["+47 23 65 32 23", "+46 8 551 073 74"])
    email: str = "support@safespring.com"
    out_of_hours_reply: bool = True
    board: bool = Field(default=True, description="triage cards in the staff room")
    # MXID -> RT user name for claims on tickets; unlisted engineers use their MXID localpart.
    rt_owners: dict[str, str] = Field(default_factory=dict)
    survey: bool = Field(default=True, description="ask 👍/👎 when a ticket is resolved")
    # An FAQ answer may come a moment after the question; the out-of-hours reply waits this
    # long and stays silent if the bot has answered the thread by then.
    out_of_hours_delay_s: float = Field(default=5.0, ge=0, le=300)
    sla: SLATargets = Field(default_factory=SLATargets)
    sla_warn_share: float = Field(default=0.8, gt=0, lt=1)
    sla_check_seconds: float = Field(default=30, gt=0, le=3600)
    # After a restart, more overdue alerts than this become one summary line.
    sla_catchup_max_lines: int = Field(default=3, ge=0)
    texts: SupportTexts = Field(default_factory=SupportTexts)
    statuspage: StatuspageSettings = Field(default_factory=StatuspageSettings)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from exc
        return value

    @field_validator("holiday_countries")
    @classmethod
    def _countries(cls, value: list[str]) -> list[str]:
        known = holidays.list_supported_countries()
        for code in value:
            if code not in known:
                raise ValueError(f"unknown holiday country {code!r} (ISO 3166-1 alpha-2)")
        return value

    @field_validator("workdays")
    @classmethod
    def _days(cls, value: list[int]) -> list[int]:
        if any(d not in range(7) for d in value):
            raise ValueError("workdays are 0 (Monday) to 6 (Sunday)")
        return value

    @model_validator(mode="after")
    def _check(self) -> SupportSettings:
        if self.closes <= self.opens:
            raise ValueError("closes must be later than opens")
        for code, cats in self.holiday_categories.items():
            if code not in self.holiday_countries:
                raise ValueError(f"holiday_categories.{code}: not in holiday_countries")
            supported = getattr(holidays.country_holidays(code), "supported_categories", ())
            bad = [c for c in cats if c not in supported]
            if bad:
                raise ValueError(
                    f"holiday_categories.{code}: unknown category {bad[0]!r} "
                    f"(known: {', '.join(supported)})"
                )
        return self
