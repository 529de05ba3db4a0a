"""The registry's rows as pydantic models, and reading/writing them as TOML or CSV.

Parsing is pure (no store): ``parse_registry`` returns the validated records or
raises ``ImportProblems`` listing every bad line and field, so the caller can
refuse the whole file before touching anything.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ORG_ID = re.compile(r"^[A-Z0-9][A-Z0-9_.-]{0,39}$")
PRODUCT = re.compile(r"^[A-Za-z0-9]+-[A-Za-z0-9._-]+$")
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
HOMESERVER = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:\d{1,5})?$")
EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@([A-Za-z0-9-]+\.)+[A-Za-z]{2,63}$")
MXID = re.compile(r"^@[A-Za-z0-9._=/+-]+:[A-Za-z0-9.-]+(:\d{1,5})?$")


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


# ---- import ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, field {self.field}: {self.message}"


class ImportProblems(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.line, p.field))
        super().__init__("; ".join(str(p) for p in self.problems))


@dataclass
class Located:
    """A record with the file lines it came from (for error messages)."""

    line: int
    field_lines: dict[str, int]
    record: Org | MemberImport


@dataclass
class Parsed:
    orgs: list[Located] = field(default_factory=list)
    members: list[Located] = field(default_factory=list)


_TOML_TABLES = {"org": Org, "member": MemberImport}
ORG_COLUMNS = ["id", "name", "products", "contract_end", "email_domains", "homeservers", "contacts"]
MEMBER_COLUMNS = ["user_id", "org", "email", "expires", "state"]


def _problems_from(exc: ValidationError, line: int, field_lines: dict[str, int]) -> list[Problem]:
    out = []
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else "(record)"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        out.append(Problem(field_lines.get(name, line), name, message))
    return out


def _toml_locations(text: str) -> dict[str, list[tuple[int, dict[str, int]]]]:
    """Line of each ``[[org]]`` / ``[[member]]`` header and of the keys under it."""
    found: dict[str, list[tuple[int, dict[str, int]]]] = {k: [] for k in _TOML_TABLES}
    current: dict[str, int] | None = None
    header = re.compile(r"^\s*\[\[\s*(\w+)\s*\]\]")
    key = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")
    for number, raw in enumerate(text.splitlines(), start=1):
        if m := header.match(raw):
            current = {}
            found.setdefault(m.group(1), []).append((number, current))
        elif raw.lstrip().startswith("["):
            current = None
        elif current is not None and (m := key.match(raw)):
            current.setdefault(m.group(1), number)
    return found


def parse_toml(text: str) -> Parsed:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = int(m.group(1)) if (m := re.search(r"line (\d+)", str(exc))) else 1
        raise ImportProblems([Problem(line, "(syntax)", f"not valid TOML: {exc}")]) from exc
    locations = _toml_locations(text)
    problems: list[Problem] = []
    parsed = Parsed()
    for key in data:
        if key not in _TOML_TABLES:
            problems.append(Problem(1, key, "unknown table; expected [[org]] and [[member]]"))
    for table, model in _TOML_TABLES.items():
        entries = data.get(table, [])
        if not isinstance(entries, list):
            problems.append(Problem(1, table, f"must be an array of tables: [[{table}]]"))
            continue
        for index, entry in enumerate(entries):
            spots = locations.get(table, [])
            line, field_lines = spots[index] if index < len(spots) else (1, {})
            if not isinstance(entry, dict):
                problems.append(Problem(line, table, "must be a table"))
                continue
            try:
                record = model.model_validate(entry)
            except ValidationError as exc:
                problems.extend(_problems_from(exc, line, field_lines))
                continue
            target = parsed.orgs if table == "org" else parsed.members
            target.append(Located(line, field_lines, record))
    _check_duplicates(parsed, problems)
    if problems:
        raise ImportProblems(problems)
    return parsed


def parse_csv(text: str) -> Parsed:
    """Organisations (header starts with ``id``) or members (header has ``user_id``)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    is_members = "user_id" in header
    columns, model = (MEMBER_COLUMNS, MemberImport) if is_members else (ORG_COLUMNS, Org)
    required = {"user_id", "org"} if is_members else {"id", "name"}
    problems = [Problem(1, h, "unknown column") for h in header if h not in columns]
    problems += [Problem(1, h, "missing column") for h in sorted(required - set(header))]
    if problems:
        raise ImportProblems(problems)
    parsed = Parsed()
    for row in reader:
        line = reader.line_num
        if None in row:
            problems.append(Problem(line, "(row)", "more cells than columns"))
            continue
        values = {k: v for k, v in row.items() if v is not None}
        if not any(v.strip() for v in values.values()):
            continue
        if not is_members:
            values = {k: v for k, v in values.items() if k in ("id", "name") or v.strip()}
        try:
            record = model.model_validate(values)
        except ValidationError as exc:
            problems.extend(_problems_from(exc, line, {}))
            continue
        (parsed.members if is_members else parsed.orgs).append(Located(line, {}, record))
    _check_duplicates(parsed, problems)
    if problems:
        raise ImportProblems(problems)
    return parsed


def _check_duplicates(parsed: Parsed, problems: list[Problem]) -> None:
    seen: dict[str, int] = {}
    for item in parsed.orgs:
        assert isinstance(item.record, Org)
        if item.record.id in seen:
            problems.append(
                Problem(
                    item.field_lines.get("id", item.line),
                    "id",
                    f"{item.record.id} already appears on line {seen[item.record.id]}",
                )
            )
        seen.setdefault(item.record.id, item.field_lines.get("id", item.line))
    users: dict[str, int] = {}
    for item in parsed.members:
        assert isinstance(item.record, MemberImport)
        uid = item.record.user_id
        if uid in users:
            problems.append(
                Problem(
                    item.field_lines.get("user_id", item.line),
                    "user_id",
                    f"{uid} already appears on line {users[uid]}",
                )
            )
        users.setdefault(uid, item.line)


def parse_registry(text: str, fmt: Literal["toml", "csv"]) -> Parsed:
    return parse_toml(text) if fmt == "toml" else parse_csv(text)


# ---- export ---------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return json.dumps(str(value), ensure_ascii=False)


def export_toml(orgs: list[Org], members: list[Member]) -> str:
    out = ["# backchannel access registry; import with: backchannel orgs import FILE", ""]
    for org in orgs:
        out.append("[[org]]")
        for key, value in org.model_dump().items():
            if value is not None and value != []:
                out.append(f"{key} = {_toml_value(value)}")
        out.append("")
    for member in members:
        if member.state is MemberState.requested:
            continue  # pending requests live in the bot, not in the CRM
        out.append("[[member]]")
        out.append(f"user_id = {_toml_value(member.user_id)}")
        out.append(f"org = {_toml_value(member.org_id)}")
        if member.email:
            out.append(f"email = {_toml_value(member.email)}")
        if member.expires_at:
            out.append(f"expires = {_toml_value(member.expires_at)}")
        out.append(f"state = {_toml_value(member.state.value)}")
        out.append("")
    return "\n".join(out)


def export_csv(orgs: list[Org]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(ORG_COLUMNS)
    for org in orgs:
        writer.writerow(
            [
                org.id,
                org.name,
                "; ".join(org.products),
                org.contract_end.isoformat() if org.contract_end else "",
                "; ".join(org.email_domains),
                "; ".join(org.homeservers),
                "; ".join(org.contacts),
            ]
        )
    return buf.getvalue()


def export_members_csv(members: list[Member]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(MEMBER_COLUMNS)
    for m in members:
        if m.state is MemberState.requested:
            continue
        expires = m.expires_at.isoformat() if m.expires_at else ""
        writer.writerow([m.user_id, m.org_id, m.email or "", expires, m.state.value])
    return buf.getvalue()
