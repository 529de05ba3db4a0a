"""Sending: messages, replies, edits, reactions, redactions."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import nio

from bot.events import Event
from bot.matrix.base import GatewayBase
from bot.matrix.errors import check
from bot.text import html_to_plain

log = logging.getLogger(__name__)


class Sending(GatewayBase):
    if TYPE_CHECKING:  # rooms.py: the direct room with a user

        async def dm_room(self, user_id: str) -> str: ...

    # ---- sending -------------------------------------------------------------------

    async def send(
        self,
        room_id: str,
        html: str,
        plain: str | None = None,
        *,
        thread_root: str | None = None,
        reply_to: str | None = None,
        mentions: Iterable[str] = (),
        msgtype: str = "m.notice",
        extra: dict[str, Any] | None = None,
        txn_id: str | None = None,
    ) -> str:
        """Send trusted HTML (callers escape user text) with a plain-text body.

        ``txn_id``, derived from the message's cause, lets the homeserver drop a resend
        after a crash (same device); None picks a random one.

        ``m.mentions`` is always set, so only the listed users are pinged and
        no "@room" or display name in quoted user text can notify anyone.
        """
        content: dict[str, Any] = {
            "msgtype": msgtype,
            "body": plain if plain is not None else html_to_plain(html),
            "format": "org.matrix.custom.html",
            "formatted_body": html,
            "m.mentions": {"user_ids": sorted(set(mentions))} if mentions else {},
        }
        if thread_root:
            content["m.relates_to"] = {
                "rel_type": "m.thread",
                "event_id": thread_root,
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": reply_to or thread_root},
            }
        elif reply_to:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        if extra:
            content.update(extra)
        return await self.send_raw(room_id, "m.room.message", content, txn_id=txn_id)

    async def send_dm(self, user_id: str, html: str, plain: str | None = None) -> str:
        return await self.send(await self.dm_room(user_id), html, plain)

    async def send_raw(
        self,
        room_id: str,
        event_type: str,
        content: dict[str, Any],
        txn_id: str | None = None,
    ) -> str:
        if room_id not in self.client.rooms:
            # nio sends only into rooms a sync has shown it (it needs their
            # encryption state), e.g. a DM created a moment ago.
            await self.wait_for_room(room_id)
        resp = await self.client.room_send(
            room_id, event_type, content, tx_id=txn_id, ignore_unverified_devices=True
        )
        event_id: str = check(resp, nio.RoomSendResponse, f"send to {room_id}").event_id
        return event_id

    async def reply(self, event: Event, html: str, plain: str | None = None, **kw: Any) -> str:
        """Answer ``event`` in its thread (with a reply fallback for thread-less clients)."""
        return await self.send(
            event.room_id, html, plain, thread_root=event.thread_id, reply_to=event.event_id, **kw
        )

    async def edit(self, room_id: str, event_id: str, html: str, plain: str | None = None) -> str:
        plain = plain if plain is not None else html_to_plain(html)
        new = {
            "msgtype": "m.notice",
            "body": plain,
            "format": "org.matrix.custom.html",
            "formatted_body": html,
            "m.mentions": {},
        }
        content = {
            **new,
            "body": f"* {plain}",
            "m.new_content": new,
            "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
        }
        return await self.send_raw(room_id, "m.room.message", content)

    async def react(self, room_id: str, event_id: str, key: str) -> str:
        content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}
        return await self.send_raw(room_id, "m.reaction", content)

    async def redact(self, room_id: str, event_id: str, reason: str | None = None) -> None:
        resp = await self.client.room_redact(room_id, event_id, reason)
        check(resp, nio.RoomRedactResponse, f"redact {event_id}")
