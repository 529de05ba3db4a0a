"""The only module that talks to matrix-nio.

nio returns error objects instead of raising; every call here checks its
result and raises ``MatrixError`` so callers cannot forget. nio's own bounded
retry (429 with ``retry_after_ms``, connection errors with backoff) is
configured from settings; it never retries endlessly.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any, TypeVar

import nio
from nio import AsyncClient, AsyncClientConfig
from nio.api import MessageDirection, RelationshipType
from nio.crypto.attachments import decrypt_attachment, encrypt_attachment
from nio.exceptions import EncryptionError
from pydantic import BaseModel

from bot import msgsize
from bot.config import MatrixSettings
from bot.events import Event, parse_event
from bot.roles import CREATOR_POWER, power_level_from_state
from bot.txn import CONTENT_KEY, SentLog

log = logging.getLogger(__name__)

R = TypeVar("R")


class MatrixError(Exception):
    """A homeserver call failed after nio's bounded retries."""

    def __init__(self, what: str, detail: str, status: str | None = None) -> None:
        super().__init__(f"{what}: {detail}")
        self.status = status


class Session(BaseModel):
    """What lets a restart reuse the same device (and its e2e store)."""

    user_id: str
    device_id: str
    access_token: str
    homeserver: str


@dataclass(frozen=True)
class Media:
    data: bytes
    content_type: str
    filename: str


def check(resp: Any, ok: type[R] | tuple[type, ...], what: str) -> R:
    if isinstance(resp, ok):
        return resp  # type: ignore[return-value]
    if isinstance(resp, nio.ErrorResponse):
        raise MatrixError(what, resp.message or str(resp), resp.status_code)
    raise MatrixError(what, f"unexpected response {type(resp).__name__}")


class MatrixGateway:
    def __init__(self, settings: MatrixSettings, data_dir: Path) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self.session_file = data_dir / "session.json"
        self.store_dir = data_dir / "e2e-store"
        client_config = AsyncClientConfig(
            max_limit_exceeded=settings.max_retries,
            max_timeouts=settings.max_retries,
            max_timeout_retry_wait_time=10,
            encryption_enabled=settings.encryption,
            store_sync_tokens=settings.encryption,
        )
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.client = AsyncClient(
            settings.homeserver,
            settings.user_id,
            store_path=str(self.store_dir),
            config=client_config,
        )
        self._dm_rooms: dict[str, str] = {}
        self._creators: dict[str, set[str]] = {}
        self._sync_done = asyncio.Condition()
        self.sent_log: SentLog | None = None  # set by the app once the store is open

    # ---- session -------------------------------------------------------------

    @property
    def user_id(self) -> str:
        return self.client.user_id

    async def login(self) -> None:
        """Restore the saved device, or log in once and save it.

        A saved device is reused only together with its e2e store: a device id
        whose store was lost would break key upload, so a new one is made.
        """
        session = self._load_session()
        store_ok = any(self.store_dir.glob("*.db")) or not self.settings.encryption
        if session and session.homeserver == self.settings.homeserver and store_ok:
            self.client.restore_login(session.user_id, session.device_id, session.access_token)
            check(await self.client.whoami(), nio.WhoamiResponse, "whoami with saved session")
            log.info("restored device %s", session.device_id)
        elif self.settings.access_token and not session:
            self.client.access_token = self.settings.access_token
            who = check(await self.client.whoami(), nio.WhoamiResponse, "whoami with access_token")
            if not who.device_id:
                raise MatrixError(
                    "access_token", "the token has no device; create one with a login"
                )
            self.client.restore_login(who.user_id, who.device_id, self.settings.access_token)
            self._save_session()
        else:
            if not self.settings.password:
                raise MatrixError(
                    "login", "the saved device or its e2e store is gone; a password is needed"
                )
            if session and not store_ok:
                log.warning(
                    "e2e store for device %s is missing: logging in a new device", session.device_id
                )
            for path in self.store_dir.glob("*"):
                path.unlink()
            resp = await self.client.login(
                self.settings.password, device_name=self.settings.device_name
            )
            check(resp, nio.LoginResponse, "login")
            self._save_session()
            log.info("logged in as new device %s", self.client.device_id)
        if self.client.olm and self.client.should_upload_keys:
            check(await self.client.keys_upload(), nio.KeysUploadResponse, "keys upload")

    def _load_session(self) -> Session | None:
        try:
            return Session.model_validate_json(self.session_file.read_text())
        except (OSError, ValueError):
            return None

    def _save_session(self) -> None:
        session = Session(
            user_id=self.client.user_id,
            device_id=self.client.device_id,
            access_token=self.client.access_token,
            homeserver=self.settings.homeserver,
        )
        tmp = self.session_file.with_suffix(".tmp")
        tmp.write_text(session.model_dump_json())
        tmp.chmod(0o600)
        tmp.replace(self.session_file)

    async def close(self) -> None:
        await self.client.close()

    # ---- room state (from nio's synced rooms) ------------------------------------

    def power_level(self, room_id: str, user_id: str) -> int:
        if user_id in self._creators.get(room_id, ()):
            return CREATOR_POWER
        room = self.client.rooms.get(room_id)
        return room.power_levels.get_user_level(user_id) if room else 0

    def note_create_event(self, room_id: str, raw: dict[str, Any]) -> None:
        """Remember a room's creators: v12 makes them all-powerful, nio does not know."""
        content = raw.get("content") or {}
        if power_level_from_state(raw, None, raw.get("sender", "")) >= CREATOR_POWER:
            self._creators[room_id] = {
                raw.get("sender", ""),
                *(content.get("additional_creators") or []),
            }

    def is_dm(self, room_id: str) -> bool:
        if room_id in self._dm_rooms.values():
            return True
        room = self.client.rooms.get(room_id)
        return (
            room is not None
            and room.member_count <= 2
            and not room.name
            and not room.canonical_alias
        )

    def members(self, room_id: str) -> list[str]:
        room = self.client.rooms.get(room_id)
        return list(room.users) if room else []

    def is_encrypted(self, room_id: str) -> bool:
        room = self.client.rooms.get(room_id)
        return bool(room and room.encrypted)

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
        cause: str | None = None,
    ) -> str:
        """Send trusted HTML (callers escape user text) with a plain-text body.

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
            return await self.send_raw(room_id, "m.room.message", content, cause=cause)
        except MatrixError as exc:
            if not thread_root or not _thread_refused(exc):
                raise
        # The root has a relation of its own (a reference, an edit): Synapse refuses
        # to start a thread there, so answer with a plain reply instead of not at all.
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to or thread_root}}
        return await self.send_raw(room_id, "m.room.message", content, cause=cause)

    async def send_raw(
        self, room_id: str, event_type: str, content: dict[str, Any], *, cause: str | None = None
    ) -> str:
        """Send one event with a transaction id derived from its cause (bot/txn.py)."""
        if room_id not in self.client.rooms:
            # nio sends only into rooms a sync has shown it (it needs their
            # encryption state), e.g. a DM created a moment ago.
            await self.wait_for_room(room_id)
        if event_type == "m.room.message":
            content = msgsize.fit(content)
        plan = None
        if self.sent_log is not None:
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
            tx_id=plan.txn_id if plan else None,
        )
        event_id = check(resp, nio.RoomSendResponse, f"send to {room_id}").event_id
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

    async def redact(self, room_id: str, event_id: str, reason: str | None = None) -> None:
        resp = await self.client.room_redact(room_id, event_id, reason)
        check(resp, nio.RoomRedactResponse, f"redact {event_id}")

    # ---- membership ----------------------------------------------------------------

    async def invite(self, room_id: str, user_id: str) -> None:
        check(
            await self.client.room_invite(room_id, user_id),
            nio.RoomInviteResponse,
            f"invite {user_id}",
        )

    async def kick(self, room_id: str, user_id: str, reason: str | None = None) -> None:
        check(
            await self.client.room_kick(room_id, user_id, reason),
            nio.RoomKickResponse,
            f"kick {user_id}",
        )

    async def ban(self, room_id: str, user_id: str, reason: str | None = None) -> None:
        check(
            await self.client.room_ban(room_id, user_id, reason),
            nio.RoomBanResponse,
            f"ban {user_id}",
        )

    async def unban(self, room_id: str, user_id: str) -> None:
        check(
            await self.client.room_unban(room_id, user_id),
            nio.RoomUnbanResponse,
            f"unban {user_id}",
        )

    async def join(self, room_id: str) -> None:
        check(await self.client.join(room_id), nio.JoinResponse, f"join {room_id}")

    async def leave(self, room_id: str) -> None:
        check(await self.client.room_leave(room_id), nio.RoomLeaveResponse, f"leave {room_id}")

    async def joined_members(self, room_id: str) -> list[str]:
        resp = check(
            await self.client.joined_members(room_id), nio.JoinedMembersResponse, "members"
        )
        return [m.user_id for m in resp.members]

    async def get_state(self, room_id: str, event_type: str, state_key: str = "") -> dict[str, Any]:
        resp = await self.client.room_get_state_event(room_id, event_type, state_key)
        return check(resp, nio.RoomGetStateEventResponse, f"get {event_type}").content

    async def put_state(
        self, room_id: str, event_type: str, content: dict[str, Any], state_key: str = ""
    ) -> None:
        resp = await self.client.room_put_state(room_id, event_type, content, state_key)
        check(resp, nio.RoomPutStateResponse, f"put {event_type}")

    async def set_power_level(self, room_id: str, user_id: str, level: int | None) -> None:
        """Read-modify-write the power levels; ``None`` removes the user's entry."""
        content = await self.get_state(room_id, "m.room.power_levels")
        users = dict(content.get("users") or {})
        if level is None:
            users.pop(user_id, None)
        else:
            users[user_id] = level
        await self.put_state(room_id, "m.room.power_levels", {**content, "users": users})

    async def dm_room(self, user_id: str) -> str:
        """The direct room with ``user_id``, created (encrypted if configured) on first use."""
        if user_id in self._dm_rooms:
            return self._dm_rooms[user_id]
        for room in self.client.rooms.values():
            if (
                set(room.users) | set(room.invited_users) == {self.user_id, user_id}
                and not room.name
            ):
                self._dm_rooms[user_id] = room.room_id
                return room.room_id
        initial_state = []
        if self.settings.encryption:
            initial_state.append(
                {
                    "type": "m.room.encryption",
                    "state_key": "",
                    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                }
            )
        resp = await self.client.room_create(
            is_direct=True,
            invite=[user_id],
            preset=nio.RoomPreset.trusted_private_chat,
            initial_state=initial_state,
        )
        room_id = check(resp, nio.RoomCreateResponse, f"create DM with {user_id}").room_id
        # nio knows the new room at once, but only with us in it: sending before a
        # sync shows the invite would share the megolm key with nobody else.
        await self.wait_for_room(room_id, member=user_id)
        self._dm_rooms[user_id] = room_id
        return room_id

    def remember_dm(self, user_id: str, room_id: str) -> None:
        self._dm_rooms[user_id] = room_id

    async def send_dm(
        self, user_id: str, html: str, plain: str | None = None, *, cause: str | None = None
    ) -> str:
        return await self.send(await self.dm_room(user_id), html, plain, cause=cause)

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

    async def download(self, mxc: str) -> Media:
        resp = await self.client.download(mxc=mxc)
        resp = check(resp, nio.DownloadResponse, f"download {mxc}")
        return Media(
            data=resp.body,
            content_type=resp.content_type or "application/octet-stream",
            filename=resp.filename or mxc.rsplit("/", 1)[-1],
        )

    async def upload(self, data: bytes, content_type: str, filename: str) -> str:
        resp, _keys = await self.client.upload(
            io.BytesIO(data), content_type=content_type, filename=filename, filesize=len(data)
        )
        return check(resp, nio.UploadResponse, f"upload {filename}").content_uri

    async def wait_for_room(
        self, room_id: str, timeout: float = 10.0, *, member: str | None = None
    ) -> bool:
        """Wait until a completely processed sync has shown ``room_id``.

        nio refuses to send into a room no sync has shown (e.g. a DM just
        created), and a room seen half-processed lacks its members, so the
        megolm key would not reach the invitee. Only the intake's "sync done"
        signal says the room's state is complete.
        """
        try:
            async with asyncio.timeout(timeout), self._sync_done:
                await self._sync_done.wait_for(lambda: self._room_has(room_id, member))
        except TimeoutError:
            return False
        return True

    def _room_has(self, room_id: str, member: str | None) -> bool:
        room = self.client.rooms.get(room_id)
        return room is not None and (member is None or member in room.users)

    async def sync_processed(self) -> None:
        """Called by the intake after nio has fully processed a sync response.

        Does the e2e bookkeeping nio's own ``sync_forever`` would do (we run our
        own loop): without the key query, devices of people who appear later (a
        DM invitee, a new member) never get the room key and cannot decrypt.
        """
        client = self.client
        if client.olm is not None:
            if client.outgoing_to_device_messages:
                for resp in await client.send_to_device_messages():
                    check(resp, nio.ToDeviceResponse, "send to-device")
            if client.should_upload_keys:
                check(await client.keys_upload(), nio.KeysUploadResponse, "keys upload")
            if client.should_query_keys:
                check(await client.keys_query(), nio.KeysQueryResponse, "keys query")
            if client.should_claim_keys:
                users = client.get_users_for_key_claiming()
                check(await client.keys_claim(users), nio.KeysClaimResponse, "keys claim")
        async with self._sync_done:
            self._sync_done.notify_all()

    # ---- raw reads for callers that need what parse_event drops --------------------------

    def knows_room(self, room_id: str) -> bool:
        """Whether a sync has shown the bot joined to ``room_id`` (no I/O)."""
        return room_id in self.client.rooms

    def display_name(self, room_id: str, user_id: str) -> str:
        """The member's display name in the room from sync state, else the user id (no I/O)."""
        room = self.client.rooms.get(room_id)
        name = room.user_name(user_id) if room else None
        return name or user_id

    def invite_is_dm(self, room_id: str, inviter: str) -> bool:
        """Whether a pending invite is DM-shaped: unnamed, and only the inviter and the bot in it."""
        room = self.client.invited_rooms.get(room_id)
        if room is None or room.name or room.canonical_alias:
            return False
        people = set(room.users) | set(room.invited_users)
        return people <= {inviter, self.user_id}

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

    @staticmethod
    def decrypt_media(data: bytes, file: dict[str, Any], what: str) -> bytes:
        """Plaintext of an encrypted attachment (``file`` is the event's EncryptedFile)."""
        try:
            return decrypt_attachment(data, file["key"]["k"], file["hashes"]["sha256"], file["iv"])
        except (KeyError, TypeError, ValueError, EncryptionError) as exc:
            raise MatrixError(what, str(exc)) from exc

    @staticmethod
    def encrypt_media(data: bytes) -> tuple[bytes, dict[str, Any]]:
        """(ciphertext, EncryptedFile keys without ``url``) for an end-to-end encrypted upload.

        CPU work: call it through ``asyncio.to_thread`` for large files.
        """
        cipher, keys = encrypt_attachment(data)
        return cipher, dict(keys)


def _source(ev: Any) -> dict[str, Any]:
    src = getattr(ev, "source", None)
    if isinstance(src, dict):
        return src
    return json.loads(json.dumps(ev)) if isinstance(ev, dict) else {}


def _thread_refused(exc: MatrixError) -> bool:
    text = str(exc).lower()
    return "thread" in text and "relation" in text


def html_to_plain(html: str) -> str:
    """A readable plain body from our own (simple, trusted) HTML."""
    text = re.sub(r"<br\s*/?>|</p>|</li>|</tr>", "\n", html)
    text = re.sub(r"<li>", "• ", text)
    text = re.sub(r'<a href="([^"]*)">([^<]*)</a>', r"\2 (\1)", text)
    text = re.sub(r"<[^>]+>", "", text)
    return unescape(text).strip()
