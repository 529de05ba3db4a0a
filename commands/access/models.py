"""The registry's rows as pydantic models, and the checks of their fields.

Reading and writing them as TOML or CSV is formats.py."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.ids import STRICT_MXID

ORG_ID = re.compile(r"^[A-Z0-9][A-Z0-9_.-]{0,39}$")
PRODUCT = re.compile(r"^[A-Za-z0-9]+-[A-Za-z0-9._-]+$")
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
HOMESERVER = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:\d{1,5})?$")
EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@([A-Za-z0-9-]+\.)+[A-Za-z]{2,63}$")
MXID = STRICT_MXID


class MemberState(StrEnum):
    requested = "requested"
    granted = "granted"
    denied = "denied"
    revoked = "revoked"
    expired = "expired"


def valid_mxid(text: str) -> bool:
    return bool(MXID.match(text)) and len(text) <= 255


def valid_email(text: str) -> bool:
    return bool(EMAIL.match(text)) and len(text) <= 254


def homeserver_of(user_id: str) -> str:
    return user_id.split(":", 1)[1].lower() if ":" in user_id else ""


def ts_to_dt(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


def dt_to_ts(dt: datetime | None) -> float | None:
    return dt.timestamp() if dt is not None else None


def last_day(moment: datetime) -> date:
    """The last day a grant ending at ``moment`` covers (an end at midnight covers the day before)."""
    return (moment - timedelta(microseconds=1)).date()


def parse_until(text: str) -> datetime:
    """``YYYY-MM-DD`` means through that day (UTC); a full ISO timestamp is taken as is."""
    text = text.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return datetime.combine(day + timedelta(days=1), time(0, 0), UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD) or ISO timestamp") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _split_list(value: Any) -> Any:
    """CSV cells and shorthand TOML strings hold lists as ``a; b`` or ``a, b``."""
    if isinstance(value, str):
        return [p.strip() for p in re.split(r"[;,\s]+", value) if p.strip()]
    return value


class Org(BaseModel):
    """An organisation as the CRM knows it; ``entitlement`` decides room access."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str
    name: str = Field(min_length=1, max_length=200)
    products: list[str] = Field(default_factory=list)
    contract_end: date | None = None
    email_domains: list[str] = Field(default_factory=list)
    homeservers: list[str] = Field(default_factory=list)
    contacts: list[str] = Field(default_factory=list)

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().upper()
            if not ORG_ID.match(value):
                raise ValueError(
                    "must be 1-40 letters, digits, '-', '_' or '.', starting with a letter or digit"
                )
        return value

    @field_validator("contract_end", mode="before")
    @classmethod
    def _empty_date(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("products", "email_domains", "homeservers", "contacts", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("products")
    @classmethod
    def _products(cls, value: list[str]) -> list[str]:
        for code in value:
            if not PRODUCT.match(code):
                raise ValueError(f"{code!r} is not a product code like SUPPORT-standard")
        return value

    @field_validator("email_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        out = [v.lower().lstrip("@") for v in value]
        for domain in out:
            if not DOMAIN.match(domain):
                raise ValueError(f"{domain!r} is not an e-mail domain like example.com")
        return out

    @field_validator("homeservers")
    @classmethod
    def _homeservers(cls, value: list[str]) -> list[str]:
        out = [v.lower() for v in value]
        for server in out:
            if not HOMESERVER.match(server):
                raise ValueError(f"{server!r} is not a homeserver name like matrix.example.com")
        return out

    @field_validator("contacts")
    @classmethod
    def _contacts(cls, value: list[str]) -> list[str]:
        for contact in value:
            if not (valid_email(contact) or valid_mxid(contact)):
                raise ValueError(f"{contact!r} is neither an e-mail address nor a Matrix id")
        return value

    def lacks(self, entitled: Iterable[str], today: date) -> str | None:
        """Why this organisation may not use the room today, or None if it may."""
        if not set(self.products) & set(entitled):
            return "no_tier"
        if self.contract_end is not None and self.contract_end < today:
            return "contract_ended"
        return None

    def owns_homeserver(self, user_id: str) -> bool:
        return homeserver_of(user_id) in self.homeservers


class Member(BaseModel):
    """One person's standing; history lives in the audit log."""

    user_id: str
    email: str | None = None
    org_id: str
    state: MemberState
    granted_by: str | None = None
    granted_at: datetime | None = None
    expires_at: datetime | None = None
    updated_at: datetime
    reason: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Member:
        return cls(
            **{
                **row,
                "granted_at": ts_to_dt(row["granted_at"]),
                "expires_at": ts_to_dt(row["expires_at"]),
                "updated_at": ts_to_dt(row["updated_at"]),
            }
        )


class AccessRequest(BaseModel):
    id: int
    user_id: str
    org_id: str
    email: str | None
    why: str
    via: Literal["join", "knock"]
    dm_room: str | None
    card_event_id: str | None
    state: Literal["pending", "approved", "denied"]
    created_at: float
    decided_by: str | None = None
    decided_at: float | None = None
    decision_reason: str | None = None


class AuditEntry(BaseModel):
    id: int
    ts: float
    actor: str
    action: str
    user_id: str | None
    org_id: str | None
    detail: str


class MemberImport(BaseModel):
    """A member line in an import file (a CRM export of people already admitted)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    user_id: str
    org: str
    email: str | None = None
    expires: datetime | None = None
    state: MemberState = MemberState.granted

    @field_validator("user_id")
    @classmethod
    def _mxid(cls, value: str) -> str:
        if not valid_mxid(value):
            raise ValueError(f"{value!r} is not a Matrix id like @name:example.com")
        return value

    @field_validator("org", mode="before")
    @classmethod
    def _org(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("email", mode="before")
    @classmethod
    def _email(cls, value: Any) -> Any:
        if value in ("", None):
            return None
        if not isinstance(value, str) or not valid_email(value.strip()):
            raise ValueError(f"{value!r} is not an e-mail address")
        return value.strip().lower()

    @field_validator("expires", mode="before")
    @classmethod
    def _expires(cls, value: Any) -> Any:
        if value in ("", None):
            return None
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, date):
            return datetime.combine(value + timedelta(days=1), time(0, 0), UTC)
        return parse_until(str(value))

    @field_validator("state", mode="before")
    @classmethod
    def _state(cls, value: Any) -> Any:
        if value in ("", None):
            return MemberState.granted
        if value == MemberState.requested:
            raise ValueError("requests cannot be imported; use granted, denied, revoked or expired")
        return value
