"""Reading events back: one event, a thread, a backfill window, raw sources."""

from __future__ import annotations

import json
import logging
from typing import Any

import nio
from nio.api import MessageDirection, RelationshipType

from bot.events import Event, parse_event
from bot.matrix.base import GatewayBase
from bot.matrix.errors import MatrixError, check

log = logging.getLogger(__name__)


class Reading(GatewayBase):
    # ---- reading ---------------------------------------------------------------------

    async def get_event(self, room_id: str, event_id: str) -> Event:
        resp = check(
            await self.client.room_get_event(room_id, event_id),
            nio.RoomGetEventResponse,
            f"get event {event_id}",
        )
        return parse_event(room_id, _source(resp.event))

    async def thread_events(self, room_id: str, root_id: str) -> list[Event]:
        """The thread's root and replies, oldest first (edits and redactions as the server applies them)."""
        events = [await self.get_event(room_id, root_id)]
        replies = []
        try:
            async for ev in self.client.room_get_event_relations(
                room_id,
                root_id,
                RelationshipType.thread,
                direction=MessageDirection.front,
                limit=100,
            ):
                replies.append(parse_event(room_id, _source(ev)))
        except nio.LocalProtocolError as exc:  # pragma: no cover - defensive
            raise MatrixError("thread", str(exc)) from exc
        return events + sorted(replies, key=lambda e: e.ts)

    async def messages_between(
        self, room_id: str, start: str, end: str | None, limit: int = 500
    ) -> list[dict[str, Any]]:
        """Raw events from ``start`` back to ``end`` (a sync token), oldest first: backfill of a limited timeline."""
        out: list[dict[str, Any]] = []
        token = start
        while True:
            resp = await self.client.room_messages(
                room_id, start=token, end=end, direction=MessageDirection.back, limit=limit
            )
            resp = check(resp, nio.RoomMessagesResponse, f"backfill {room_id}")
            out.extend(_source(ev) for ev in resp.chunk)
            if not resp.chunk or not resp.end or resp.end == token:
                break
            token = resp.end
        out.reverse()
        return out

    # ---- raw reads for callers that need what parse_event drops --------------------------

    async def raw_event(self, room_id: str, event_id: str) -> dict[str, Any]:
        """One event as the server's raw dict (with ``unsigned``), decrypted when possible."""
        resp = check(
            await self.client.room_get_event(room_id, event_id),
            nio.RoomGetEventResponse,
            f"get event {event_id}",
        )
        return self._raw_decrypted(resp.event)

    async def thread_raw(self, room_id: str, root_id: str) -> list[dict[str, Any]]:
        """Raw dicts of a thread's root and replies (root first, replies oldest first), decrypted.

        For callers that need the bundled edit in ``unsigned.m.relations``; an event that
        cannot be decrypted stays as the server sent it.
        """
        out = [await self.raw_event(room_id, root_id)]
        replies: list[dict[str, Any]] = []
        try:
            async for ev in self.client.room_get_event_relations(
                room_id,
                root_id,
                RelationshipType.thread,
                direction=MessageDirection.front,
                limit=100,
            ):
                replies.append(self._raw_decrypted(ev))
        except nio.LocalProtocolError as exc:  # pragma: no cover - defensive
            raise MatrixError("thread", str(exc)) from exc
        replies.sort(key=lambda r: int(r.get("origin_server_ts") or 0))
        return out + replies

    def _raw_decrypted(self, ev: Any) -> dict[str, Any]:
        if isinstance(ev, nio.MegolmEvent):
            try:
                ev = self.client.decrypt_event(ev)
            except Exception:  # an undecryptable message is the caller's to skip, not fatal
                log.warning("cannot decrypt %s", getattr(ev, "event_id", "?"))
        src = getattr(ev, "source", None)
        return src if isinstance(src, dict) else {}


def _source(ev: Any) -> dict[str, Any]:
    src = getattr(ev, "source", None)
    if isinstance(src, dict):
        return src
    return json.loads(json.dumps(ev)) if isinstance(ev, dict) else {}
