"""Sending: messages, replies, edits, reactions, redactions."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import nio
from nio.api import MessageDirection

from bot import msgsize
from bot.events import Event
from bot.matrix.base import GatewayBase
from bot.matrix.errors import MatrixError, check
from bot.matrix.reading import _source
from bot.text import html_to_plain
from bot.txn import CONTENT_KEY

log = logging.getLogger(__name__)


class Sending(GatewayBase):
    if TYPE_CHECKING:  # rooms.py: the direct room with a user

        async def dm_room(self, user_id: str) -> str: ...

        def _raw_decrypted(self, ev: Any) -> dict[str, Any]: ...  # reading.py

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
        cause: str | None = None,
    ) -> str:
        """Send trusted HTML (callers escape user text) with a plain-text body.

        ``txn_id``, derived from the message's cause, lets the homeserver drop a resend
        after a crash (same device); None picks a random one.

        ``m.mentions`` is always set, so only the listed users are pinged and
        no "@room" or display name in quoted user text can notify anyone.
        ``cause`` names why a background sender sends (see bot/txn.py); inside
        an event's handling the event is the cause and it can be left out.
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
        try:
            return await self.send_raw(
                room_id, "m.room.message", content, cause=cause, txn_id=txn_id
            )
        except MatrixError as exc:
            if not thread_root or not _thread_refused(exc):
                raise
        # The root has a relation of its own (a reference, an edit): Synapse refuses
        # to start a thread there, so answer with a plain reply instead of not at all.
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to or thread_root}}
        return await self.send_raw(room_id, "m.room.message", content, cause=cause, txn_id=txn_id)

    async def send_dm(
        self, user_id: str, html: str, plain: str | None = None, *, cause: str | None = None
    ) -> str:
        return await self.send(await self.dm_room(user_id), html, plain, cause=cause)

    async def send_raw(
        self,
        room_id: str,
        event_type: str,
        content: dict[str, Any],
        *,
        cause: str | None = None,
        txn_id: str | None = None,
    ) -> str:
        """Send one event with a transaction id derived from its cause (bot/txn.py), or with
        ``txn_id`` when the caller derives its own (then it alone answers for resends)."""
        if room_id not in self.client.rooms:
            # nio sends only into rooms a sync has shown it (it needs their
            # encryption state), e.g. a DM created a moment ago.
            await self.wait_for_room(room_id)
        if event_type == "m.room.message":
            content = msgsize.fit(content)
        plan = None
        if self.sent_log is not None and txn_id is None:
            plan = await self.sent_log.plan(
                room_id, event_type, self.client.device_id or "", self._find_sent, cause
            )
            if plan.already:
                log.info("not sending again: %s was sent before a restart", plan.already)
                return plan.already
            if plan.txn_id:
                content = {**content, CONTENT_KEY: plan.txn_id}
        resp = await self.client.room_send(
            room_id,
            event_type,
            content,
            ignore_unverified_devices=True,
            tx_id=txn_id or (plan.txn_id if plan else None),
        )
        event_id: str = check(resp, nio.RoomSendResponse, f"send to {room_id}").event_id
        if plan is not None and self.sent_log is not None:
            self.sent_log.sent(plan, event_id)
        return event_id

    async def _find_sent(self, room_id: str, txn: str) -> str | None:
        """Our own recent event in ``room_id`` that carries transaction id ``txn``, if any."""
        token = self.client.next_batch
        if not token:
            return None
        resp = await self.client.room_messages(
            room_id, start=token, direction=MessageDirection.back, limit=200
        )
        if not isinstance(resp, nio.RoomMessagesResponse):
            return None
        for ev in resp.chunk:
            src = _source(ev)
            if src.get("sender") != self.user_id:
                continue
            if isinstance(ev, nio.MegolmEvent):
                src = self._raw_decrypted(ev)
            content = src.get("content")
            if isinstance(content, dict) and content.get(CONTENT_KEY) == txn:
                return str(src.get("event_id"))
        return None

    async def reply(self, event: Event, html: str, plain: str | None = None, **kw: Any) -> str:
        """Answer ``event`` in its thread (with a reply fallback for thread-less clients).

        An event that has a relation of its own (a reference, say) cannot root
        a thread: it gets a plain reply.
        """
        if event.has_relation and not event.thread_root:
            return await self.send(event.room_id, html, plain, reply_to=event.event_id, **kw)
        return await self.send(
            event.room_id, html, plain, thread_root=event.thread_id, reply_to=event.event_id, **kw
        )

    async def edit(
        self,
        room_id: str,
        event_id: str,
        html: str,
        plain: str | None = None,
        *,
        cause: str | None = None,
    ) -> str:
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
        return await self.send_raw(room_id, "m.room.message", content, cause=cause)

    async def react(
        self, room_id: str, event_id: str, key: str, *, cause: str | None = None
    ) -> str:
        content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}
        return await self.send_raw(room_id, "m.reaction", content, cause=cause)

    async def redact(
        self, room_id: str, event_id: str, reason: str | None = None, *, txn_id: str | None = None
    ) -> None:
        """``txn_id``: the same id on a retry lets the homeserver return the first redaction."""
        resp = await self.client.room_redact(room_id, event_id, reason, tx_id=txn_id)
        check(resp, nio.RoomRedactResponse, f"redact {event_id}")


def _thread_refused(exc: MatrixError) -> bool:
    text = str(exc).lower()
    return "thread" in text and "relation" in text
