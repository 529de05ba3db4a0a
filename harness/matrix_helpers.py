"""Test-side Matrix actors: real accounts on the test Synapse, and the bot run in-process."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nio

from bot.app import App
from bot.config import Config, build_config
from bot.events import Event, parse_event
from harness.synapse_server import Account, Synapse


class Person:
    """A real Matrix user (customer, engineer, admin) driven by a test."""

    def __init__(self, server: Synapse, account: Account, *, e2e_dir: Path | None = None) -> None:
        self.server = server
        self.account = account
        self.user_id = account.user_id
        config = nio.AsyncClientConfig(
            max_limit_exceeded=0,
            max_timeouts=2,
            encryption_enabled=e2e_dir is not None,
            store_sync_tokens=e2e_dir is not None,
        )
        self.client = nio.AsyncClient(
            server.url,
            account.user_id,
            device_id=account.device_id,
            store_path=str(e2e_dir) if e2e_dir else "",
            config=config,
        )
        self.client.restore_login(account.user_id, account.device_id, account.access_token)
        self.events: list[Event] = []
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.client.sync(timeout=0, full_state=True)
        if self.client.olm and self.client.should_upload_keys:
            await self.client.keys_upload()
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            resp = await self.client.sync(
                timeout=1000, sync_filter={"room": {"timeline": {"limit": 500}}}
            )
            if not isinstance(resp, nio.SyncResponse):
                await asyncio.sleep(0.2)
                continue
            for room_id in resp.rooms.invite:
                await self.client.join(room_id)
            new = []
            for room_id, room in resp.rooms.join.items():
                for ev in room.timeline.events:
                    new.append(parse_event(room_id, ev.source))
            if new:
                async with self._changed:
                    self.events.extend(new)
                    self._changed.notify_all()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.client.close()

    async def send(
        self,
        room_id: str,
        body: str,
        *,
        thread_root: str | None = None,
        reply_to: str | None = None,
        html: str | None = None,
    ) -> str:
        content: dict[str, Any] = {"msgtype": "m.text", "body": body}
        if html:
            content.update(format="org.matrix.custom.html", formatted_body=html)
        if thread_root:
            content["m.relates_to"] = {
                "rel_type": "m.thread",
                "event_id": thread_root,
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": reply_to or thread_root},
            }
        elif reply_to:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        resp = await self.client.room_send(
            room_id, "m.room.message", content, ignore_unverified_devices=True
        )
        assert isinstance(resp, nio.RoomSendResponse), resp
        return resp.event_id

    async def react(self, room_id: str, event_id: str, key: str) -> str:
        content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}
        resp = await self.client.room_send(
            room_id, "m.reaction", content, ignore_unverified_devices=True
        )
        assert isinstance(resp, nio.RoomSendResponse), resp
        return resp.event_id

    async def wait_for(
        self, pred: Callable[[Event], bool], timeout: float = 15.0, since: int = 0
    ) -> Event:
        """The first event (from index ``since``) matching ``pred``; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                for ev in self.events[since:]:
                    if pred(ev):
                        return ev
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{self.user_id}: no matching event within {timeout}s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_reply(self, to_event: str, sender: str, timeout: float = 15.0) -> Event:
        """The bot's answer in the thread of (or in reply to) ``to_event``."""
        return await self.wait_for(
            lambda e: (
                e.sender == sender
                and e.kind == "message"
                and not e.is_edit
                and (e.reply_to == to_event or e.thread_root == to_event)
            ),
            timeout,
        )

    def messages_from(self, sender: str, room_id: str | None = None) -> list[Event]:
        return [
            e
            for e in self.events
            if e.sender == sender
            and e.kind == "message"
            and (room_id is None or e.room_id == room_id)
        ]


@dataclass
class World:
    """One set of fresh rooms with the bot and people in them."""

    server: Synapse
    support: str
    staff: str
    bot: Account
    admin: Person
    engineer: Person
    customer: Person
    others: dict[str, Person] = field(default_factory=dict)
    data_dir: Path = Path()

    async def stop(self) -> None:
        """Stop every person's client (the fixtures' teardown)."""
        for person in (self.admin, self.engineer, self.customer, *self.others.values()):
            await person.stop()

    def config(self, **sections: Any) -> Config:
        base: dict[str, Any] = {
            "matrix": {
                "homeserver": self.server.url,
                "user_id": self.bot.user_id,
                "password": self.bot.password,
                "encryption": True,
                "sync_timeout_ms": 5000,
                "max_retries": 2,
            },
            "rooms": {"support": self.support, "staff": self.staff},
            "roles": {"admins": [self.admin.user_id], "engineers": [self.engineer.user_id]},
            "bot": {"data_dir": str(self.data_dir)},
            "web": {"enabled": False},
            # Support operations depend on the time of day (out-of-hours replies, SLA pings);
            # tests of other features must not, so their tests switch it on.
            "support": {"enabled": False},
        }
        for key, value in sections.items():
            base[key] = {**base.get(key, {}), **value} if isinstance(value, dict) else value
        return build_config(**base)


@contextlib.asynccontextmanager
async def running_bot(config: Config, **kw: Any):  # type: ignore[no-untyped-def]
    app = App(config, **kw)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()
