"""Reading and writing the registry as TOML or CSV.

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
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from commands.access.models import Member, MemberImport, MemberState, Org

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


_TOML_TABLES: dict[str, type[BaseModel]] = {"org": Org, "member": MemberImport}
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
            if isinstance(record, Org):
                parsed.orgs.append(Located(line, field_lines, record))
            elif isinstance(record, MemberImport):
                parsed.members.append(Located(line, field_lines, record))
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
