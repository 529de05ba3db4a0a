"""The bot's own view of a Matrix event: one flat, typed shape for every handler."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict


class Kind(StrEnum):
    message = "message"  # m.room.message (text, notice, image, file ...)
    reaction = "reaction"  # m.reaction annotation
    member = "member"  # m.room.member state change
    redaction = "redaction"
    state = "state"  # any other state event (join rules, power levels ...)
    other = "other"


class Event(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: str
    room_id: str
    sender: str
    ts: int  # origin_server_ts, ms
    kind: Kind
    type: str
    content: dict[str, Any] = {}
    body: str = ""
    msgtype: str | None = None
    thread_root: str | None = None  # m.thread parent, if any
    reply_to: str | None = None  # m.in_reply_to target, if any
    relates_to: str | None = None  # annotation/replace/redaction target
    key: str | None = None  # reaction key
    state_key: str | None = None
    membership: str | None = None
    prev_membership: str | None = None
    is_edit: bool = False
    backlog: bool = False  # sent before this process's start cutoff: never act punitively

    @property
    def thread_id(self) -> str:
        """The thread this event belongs to; a top-level message roots its own thread."""
        return self.thread_root or self.event_id

    @property
    def media_url(self) -> str | None:
        url = self.content.get("url")
        return url if isinstance(url, str) and url.startswith("mxc://") else None


def _relation(content: dict[str, Any]) -> dict[str, Any]:
    rel = content.get("m.relates_to")
    return rel if isinstance(rel, dict) else {}


def parse_event(room_id: str, raw: dict[str, Any], *, cutoff_ms: int = 0) -> Event:
    """Build an Event from a raw client-server API event dict (as /sync or /messages give it)."""
    etype = raw.get("type", "")
    content = raw.get("content") or {}
    if not isinstance(content, dict):
        content = {}
    rel = _relation(content)
    ts = int(raw.get("origin_server_ts") or 0)
    fields: dict[str, Any] = {
        "event_id": raw.get("event_id", ""),
        "room_id": room_id,
        "sender": raw.get("sender", ""),
        "ts": ts,
        "type": etype,
        "content": content,
        "backlog": ts < cutoff_ms,
        "state_key": raw.get("state_key"),
    }
    if etype == "m.room.message":
        new_content = content.get("m.new_content")
        is_edit = rel.get("rel_type") == "m.replace" and isinstance(new_content, dict)
        body = (new_content if is_edit else content).get("body", "")
        fields.update(
            kind=Kind.message,
            body=body if isinstance(body, str) else "",
            msgtype=content.get("msgtype"),
            is_edit=is_edit,
            relates_to=rel.get("event_id") if is_edit else None,
            thread_root=rel.get("event_id") if rel.get("rel_type") == "m.thread" else None,
            reply_to=(rel.get("m.in_reply_to") or {}).get("event_id"),
        )
    elif etype == "m.reaction" and rel.get("rel_type") == "m.annotation":
        fields.update(kind=Kind.reaction, relates_to=rel.get("event_id"), key=rel.get("key"))
    elif etype == "m.room.member":
        prev = (raw.get("unsigned") or {}).get("prev_content") or {}
        fields.update(
            kind=Kind.member,
            membership=content.get("membership"),
            prev_membership=prev.get("membership") if isinstance(prev, dict) else None,
        )
    elif etype == "m.room.redaction":
        fields.update(kind=Kind.redaction, relates_to=raw.get("redacts") or content.get("redacts"))
    elif "state_key" in raw:
        fields.update(kind=Kind.state)
    else:
        fields.update(kind=Kind.other)
    return Event(**fields)
