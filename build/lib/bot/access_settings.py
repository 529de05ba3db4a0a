"""Settings of the access feature (``[access]``): who may enter the support room and how."""

from __future__ import annotations

import re
from typing import Self

from pydantic import Field, field_validator, model_validator

from bot.settings_base import Section

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class AccessSettings(Section):
    """The doorkeeper of the support room: entitlement, rate limits, checks and wording."""

    entitled_products: list[str] = Field(
        default_factory=lambda: ["SUPPORT-standard", "SUPPORT-premium"],
        min_length=1,
        description="product codes that give an organisation a seat in the support room",
    )
    required_product: str = Field(
        default="SUPPORT-standard",
        description="the product named to organisations that lack the tier",
    )
    default_grant_days: int = Field(
        default=365,
        ge=0,
        description="how long a grant lasts when no --until is given; 0 = until revoked",
    )
    join_rate_limit: int = Field(
        default=3, ge=1, description="!join attempts one account may make per window"
    )
    join_rate_window_minutes: int = Field(default=10, ge=1)
    daily_check_time: str = Field(
        default="03:00", description="UTC time (HH:MM) of the daily full check"
    )
    check_poll_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="how often expiries and registry imports are looked for between daily checks",
    )
    handle_knocks: bool = Field(
        default=True, description="treat knocks on the support room like !join requests"
    )
    enforce_membership: bool = Field(
        default=True,
        description="remove people from the support room who hold no grant (never staff)",
    )
    sweep_on_check: bool = Field(
        default=True,
        description="the start and daily checks also remove present members without a grant",
    )
    enforce_join_rule: bool = Field(
        default=True, description="restore the join rule (invite/knock) if someone opens the room"
    )
    accept_dm_from_anyone: bool = Field(
        default=True,
        description="accept DM invites from unknown people so they can ask with !join",
    )
    exempt_users: list[str] = Field(
        default_factory=list,
        description="extra accounts never removed (other bots); staff and the bot always are",
    )
    support_email: str = "support@safespring.com"
    support_hours: str = "08:00–17:00 on Swedish and Norwegian workdays"
    p1_phones: list[str] = Field(default_factory=lambda: ["+47 23 65 32 23", "+46 8 551 073 74"])
    order_hint: str = Field(
        default="Your organisation's contact person can order it from your Safespring account manager.",
        description="how an organisation gets the required product (plain text)",
    )
    welcome_extra: str = Field(default="", description="an extra paragraph for the welcome (plain)")

    @field_validator("daily_check_time")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("daily_check_time must be HH:MM (24 h, UTC), e.g. 03:00")
        return value

    @model_validator(mode="after")
    def _mxids(self) -> Self:
        for mxid in self.exempt_users:
            if not mxid.startswith("@") or ":" not in mxid:
                raise ValueError(f"exempt_users: {mxid!r} is not a Matrix user id (@name:server)")
        return self

    @property
    def check_hour_minute(self) -> tuple[int, int]:
        hour, minute = self.daily_check_time.split(":")
        return int(hour), int(minute)
