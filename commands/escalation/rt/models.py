"""What RT returns, as pydantic models, and TicketSQL quoting (shared by the RT clients)."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

log = logging.getLogger(__name__)

PER_PAGE = 100  # RT's maximum
MAX_PAGES = 1000  # a runaway guard, far above any real queue


# ---------------------------------------------------------------------------- TicketSQL


def ticketsql_quote(value: str | int) -> str:
    """One TicketSQL/TransactionSQL string literal; every value in a query goes through here.

    RT's parser (RT::SQL, Regexp::Common `delimited`) takes a backslash as the escape
    character inside quotes and unescapes `\\(.)` -> `$1`, so escaping backslash and the quote
    makes any chat text a single inert value. NUL is dropped (never meaningful, may truncate).
    Note for LIKE: `%` and `_` stay wildcards; only `=` comparisons are exact.
    """
    text = str(value).replace("\x00", "")
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def cf_keyword(field_name: str) -> str:
    """`'CF.{Matrix Room}'`: unquoted, a space in the name breaks the parser (400)."""
    return ticketsql_quote(f"CF.{{{field_name}}}")


# ---------------------------------------------------------------------------- models


class _RTModel(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class RTRef(_RTModel):
    """A link to another record, e.g. {"id": "matrix-bot", "type": "user", "_url": ...}."""

    id: str
    type: str | None = None
    url: str | None = Field(default=None, alias="_url")

    @field_validator("id", mode="before")
    @classmethod
    def _str_id(cls, v: Any) -> str:
        return str(v)


def _ref_id(v: Any) -> Any:
    """Collections expand some refs to "" (e.g. Object); keep the id string either way."""
    if isinstance(v, Mapping):
        return str(v.get("id", ""))
    return "" if v is None else str(v)


class CustomFieldValue(_RTModel):
    id: str
    name: str
    values: list[str] = Field(default_factory=list)


class Ticket(_RTModel):
    id: int
    subject: str = Field(default="", alias="Subject")
    status: str = Field(default="", alias="Status")
    priority: int = Field(default=0, alias="Priority")
    queue: str = Field(default="", alias="Queue")
    owner: str = Field(default="", alias="Owner")
    creator: str = Field(default="", alias="Creator")
    requestors: list[str] = Field(default_factory=list, alias="Requestor")
    created: datetime | None = Field(default=None, alias="Created")
    last_updated: datetime | None = Field(default=None, alias="LastUpdated")
    custom_fields: list[CustomFieldValue] = Field(default_factory=list, alias="CustomFields")

    @field_validator("queue", "owner", "creator", mode="before")
    @classmethod
    def _ref(cls, v: Any) -> str:
        ref: str = _ref_id(v)
        return ref

    @field_validator("priority", mode="before")
    @classmethod
    def _int(cls, v: Any) -> int:
        return int(v or 0)

    @field_validator("requestors", mode="before")
    @classmethod
    def _refs(cls, v: Any) -> list[str]:
        return [_ref_id(x) for x in (v or [])]

    def cf(self, name: str) -> str | None:
        for f in self.custom_fields:
            if f.name == name:
                return f.values[0] if f.values else None
        return None


class TicketSummary(_RTModel):
    """A row of a ticket search."""

    id: int
    subject: str = Field(default="", alias="Subject")
    status: str = Field(default="", alias="Status")
    queue: str = Field(default="", alias="Queue")

    @field_validator("queue", mode="before")
    @classmethod
    def _ref(cls, v: Any) -> str:
        ref: str = _ref_id(v)
        return ref


class Transaction(_RTModel):
    id: int
    type: str = Field(default="", alias="Type")  # Create, Correspond, Comment, Status, ...
    creator: str = Field(default="", alias="Creator")
    created: datetime | None = Field(default=None, alias="Created")
    object_type: str = Field(default="", alias="ObjectType")
    object_id: int = Field(default=0, alias="ObjectId")
    field: str = Field(default="", alias="Field")
    old_value: str = Field(default="", alias="OldValue")
    new_value: str = Field(default="", alias="NewValue")
    data: str = Field(default="", alias="Data")

    @field_validator("creator", mode="before")
    @classmethod
    def _ref(cls, v: Any) -> str:
        ref: str = _ref_id(v)
        return ref

    @field_validator("object_id", mode="before")
    @classmethod
    def _oid(cls, v: Any) -> int:
        return int(v or 0)

    @field_validator("field", "old_value", "new_value", "data", mode="before")
    @classmethod
    def _none_str(cls, v: Any) -> str:
        return "" if v is None else str(v)


class Attachment(_RTModel):
    """One MIME part of a transaction. In collections RT returns `Content` decoded (raw text);
    for binary parts each byte is one code point, see `raw_bytes`."""

    id: int
    content_type: str = Field(default="", alias="ContentType")
    filename: str = Field(default="", alias="Filename")
    content: str = Field(default="", alias="Content")

    @field_validator("filename", "content", "content_type", mode="before")
    @classmethod
    def _none_str(cls, v: Any) -> str:
        return "" if v is None else str(v)

    @property
    def is_file(self) -> bool:
        return bool(self.filename)

    @property
    def is_body(self) -> bool:
        return not self.filename and self.content_type in ("text/plain", "text/html")


class SearchPage(_RTModel):
    count: int = 0
    page: int = 1
    per_page: int = PER_PAGE
    total: int | None = None  # null unless SuperUser
    pages: int | None = None
    items: list[dict[str, Any]] = Field(default_factory=list)


class RTFile(BaseModel):
    """A file to attach to a ticket message."""

    filename: str
    content_type: str = "application/octet-stream"
    data: bytes

    @field_validator("filename")
    @classmethod
    def _one_line(cls, v: str) -> str:
        # Matrix file names are chat input: a line break in one made RT 5 answer 500.
        return " ".join(re.split(r"[\x00-\x1f\x7f\x85\u2028\u2029]+", v)).strip() or "file"

    def as_json(self) -> dict[str, str]:
        return {
            "FileName": self.filename,
            "FileType": self.content_type,
            "FileContent": base64.b64encode(self.data).decode("ascii"),
        }
