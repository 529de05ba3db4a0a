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
    has_relation: bool = False  # a non-thread relation: this event cannot root a thread
    backlog: bool = False  # sent before this process's start cutoff: never act punitively

    @property
    def thread_id(self) -> str:
        """The thread this event belongs to; a top-level message roots its own thread."""
        return self.thread_root or self.event_id

    @property
    def media_url(self) -> str | None:
        url = self.content.get("url")
        return url if isinstance(url, str) and url.startswith("mxc://") else None


class _Reader:
    """Reads fields of untrusted event JSON: a value of the wrong type counts as absent.

    Any customer can put a number, list, dict or boolean where an id or a string
    belongs; nothing downstream should ever see one. Each field found with a
    wrong type is reported by name (``malformed``) so it can be counted.
    """

    def __init__(self, malformed: list[str] | None) -> None:
        self.malformed = malformed if malformed is not None else []

    def _bad(self, field: str, value: Any) -> None:
        if value is not None:
            self.malformed.append(field)

    def text(self, obj: dict[str, Any], key: str, field: str) -> str | None:
        value = obj.get(key)
        if isinstance(value, str):
            return value
        self._bad(field, value)
        return None

    def obj(self, obj: dict[str, Any], key: str, field: str) -> dict[str, Any]:
        value = obj.get(key)
        if isinstance(value, dict):
            return value
        self._bad(field, value)
        return {}

    def number(self, obj: dict[str, Any], key: str, field: str) -> int:
        value = obj.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        self._bad(field, value)
        return 0


def parse_event(
    room_id: str, raw: dict[str, Any], *, cutoff_ms: int = 0, malformed: list[str] | None = None
) -> Event:
    """Build an Event from a raw client-server API event dict (as /sync or /messages give it).

    Never raises on content: a field of the wrong type is treated as absent and
    its name appended to ``malformed`` (when given).
    """
    r = _Reader(malformed)
    if not isinstance(raw, dict):
        r.malformed.append("event")
        raw = {}
    etype = r.text(raw, "type", "type") or ""
    content = r.obj(raw, "content", "content")
    rel = r.obj(content, "m.relates_to", "m.relates_to")
    rel_type = r.text(rel, "rel_type", "rel_type")
    rel_target = r.text(rel, "event_id", "relates_to.event_id")
    ts = r.number(raw, "origin_server_ts", "origin_server_ts")
    fields: dict[str, Any] = {
        "event_id": r.text(raw, "event_id", "event_id") or "",
        "room_id": room_id,
        "sender": r.text(raw, "sender", "sender") or "",
        "ts": ts,
        "type": etype,
        "content": content,
        "backlog": ts < cutoff_ms,
        "state_key": r.text(raw, "state_key", "state_key"),
        # A relation other than m.thread (a reference, an edit, an annotation) means
        # Synapse refuses to start a thread from this event: reply to it plainly.
        "has_relation": rel_type is not None and rel_type != "m.thread",
    }
    if etype == "m.room.message":
        new_content = content.get("m.new_content")
        is_edit = rel_type == "m.replace" and isinstance(new_content, dict)
        if rel_type == "m.replace" and not is_edit:
            r._bad("m.new_content", new_content)
        source = new_content if is_edit and isinstance(new_content, dict) else content
        in_reply = r.obj(rel, "m.in_reply_to", "m.in_reply_to")
        fields.update(
            kind=Kind.message,
            body=r.text(source, "body", "body") or "",
            msgtype=r.text(content, "msgtype", "msgtype"),
            is_edit=is_edit,
            relates_to=rel_target if is_edit else None,
            thread_root=rel_target if rel_type == "m.thread" else None,
            reply_to=r.text(in_reply, "event_id", "m.in_reply_to.event_id"),
        )
        r.text(source, "formatted_body", "formatted_body")  # counted; readers check the type
    elif etype == "m.reaction" and rel_type == "m.annotation":
        fields.update(kind=Kind.reaction, relates_to=rel_target, key=r.text(rel, "key", "key"))
    elif etype == "m.room.member":
        unsigned = r.obj(raw, "unsigned", "unsigned")
        prev = r.obj(unsigned, "prev_content", "prev_content")
        fields.update(
            kind=Kind.member,
            membership=r.text(content, "membership", "membership"),
            prev_membership=r.text(prev, "membership", "prev_content.membership"),
        )
    elif etype == "m.room.redaction":
        fields.update(
            kind=Kind.redaction,
            relates_to=r.text(raw, "redacts", "redacts") or r.text(content, "redacts", "redacts"),
        )
    elif "state_key" in raw:
        fields.update(kind=Kind.state)
    else:
        fields.update(kind=Kind.other)
    return Event(**fields)
