"""The matrix-js-sdk driver (harness/js/driver.mjs) as an asyncio object for tests and benchmarks.

One long-running Node process per client: commands and answers are JSON lines on
stdin/stdout, events ("message", "ready") arrive on stdout as they happen.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

JS_DIR = Path(__file__).parent / "js"
DRIVER = JS_DIR / "driver.mjs"


def js_available() -> str | None:
    """None when the driver can run here, else why not (for a skip message)."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (JS_DIR / "node_modules" / "matrix-js-sdk").is_dir():
        return "matrix-js-sdk is not installed (make install runs npm ci in harness/js)"
    return None


class JsMessage(BaseModel):
    """A room message as the js-sdk client saw it (decrypted when it could)."""

    room_id: str
    event_id: str
    sender: str
    body: str | None = None
    msgtype: str | None = None
    formatted_body: str | None = None
    mentions: dict[str, Any] | None = None  # m.mentions as sent
    encrypted: bool
    decryption_failure: bool
    thread_root: str | None = None
    reply_to: str | None = None
    ts: int
    seen_ms: int


class PushActions(BaseModel):
    """What the client's push rules do with one event (matrix-js-sdk's PushProcessor)."""

    notify: bool
    highlight: bool
    sound: str | None = None
    rule_id: str | None = None  # the rule that matched; None: none did (or our own event)


class JsClient:
    def __init__(self, homeserver: str, user_id: str, password: str, log_path: Path) -> None:
        self.args = [homeserver, user_id, password]
        self.user_id = user_id
        self.log_path = log_path
        self.device_id = ""
        self.messages: list[JsMessage] = []
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._changed = asyncio.Condition()
        self._ready: asyncio.Future[dict[str, Any]] | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._log: Any = None

    async def start(self, timeout: float = 60.0) -> JsClient:
        self._log = self.log_path.open("ab")
        self._proc = await asyncio.create_subprocess_exec(
            "node",
            str(DRIVER),
            *self.args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._log,
            cwd=str(JS_DIR),
        )
        self._ready = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())
        ready = await asyncio.wait_for(asyncio.shield(self._ready), timeout)
        self.device_id = ready["device_id"]
        return self

    async def _read(self) -> None:
        assert self._proc and self._proc.stdout
        async for line in self._proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if msg.get("event") == "ready" and self._ready and not self._ready.done():
                self._ready.set_result(msg)
            elif msg.get("event") == "message":
                async with self._changed:
                    self.messages.append(JsMessage.model_validate(msg))
                    self._changed.notify_all()
            elif "id" in msg and (fut := self._pending.pop(msg["id"], None)) and not fut.done():
                fut.set_result(msg)
        err = RuntimeError(f"js driver exited; see {self.log_path}")
        for fut in [self._ready, *self._pending.values()]:
            if fut and not fut.done():
                fut.set_exception(err)

    async def call(self, cmd: str, timeout: float = 30.0, **args: Any) -> dict[str, Any]:
        assert self._proc and self._proc.stdin
        msg_id = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = fut
        self._proc.stdin.write((json.dumps({"id": msg_id, "cmd": cmd, **args}) + "\n").encode())
        await self._proc.stdin.drain()
        answer = await asyncio.wait_for(fut, timeout)
        if not answer.get("ok"):
            raise AssertionError(f"js {cmd} failed: {answer.get('error')}")
        return answer

    async def join(self, room_id: str) -> bool:
        """Join and wait until the room's state is synced; True if it is encrypted."""
        await self.call("join", room=room_id)
        return bool((await self.call("wait_room", room=room_id))["encrypted"])

    async def send(
        self,
        room_id: str,
        body: str,
        thread_root: str | None = None,
        *,
        formatted_body: str | None = None,
        mentions: list[str] | None = None,
    ) -> str:
        answer = await self.call(
            "send",
            room=room_id,
            body=body,
            thread_root=thread_root,
            formatted_body=formatted_body,
            mentions=mentions,
        )
        return str(answer["event_id"])

    async def device_signed(self, user_id: str, device_id: str, timeout: float = 15.0) -> bool:
        answer = await self.call(
            "device_signed",
            timeout=timeout + 5,
            user=user_id,
            device=device_id,
            timeout_ms=int(timeout * 1000),
        )
        return bool(answer["signed_by_owner"])

    async def push_actions(self, event_id: str, timeout: float = 15.0) -> PushActions:
        """How this user's client would notify them of ``event_id`` (once it has seen it)."""
        answer = await self.call(
            "push_actions", timeout=timeout + 5, event_id=event_id, timeout_ms=int(timeout * 1000)
        )
        return PushActions.model_validate(answer)

    async def wait_message(
        self, pred: Callable[[JsMessage], bool], timeout: float = 20.0
    ) -> JsMessage:
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                for msg in self.messages:
                    if pred(msg):
                        return msg
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{self.user_id} (js): no matching message in {timeout}s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_reply(self, to_event: str, sender: str, timeout: float = 20.0) -> JsMessage:
        """The decrypted (or plain) answer from ``sender`` in the thread of ``to_event``."""
        return await self.wait_message(
            lambda m: (
                m.sender == sender
                and not m.decryption_failure
                and (m.thread_root == to_event or m.reply_to == to_event)
            ),
            timeout,
        )

    async def stop(self) -> None:
        if self._proc and self._proc.returncode is None:
            with contextlib.suppress(Exception):
                await self.call("quit", timeout=5)
            with contextlib.suppress(TimeoutError, ProcessLookupError):
                await asyncio.wait_for(self._proc.wait(), 5)
            if self._proc.returncode is None:
                self._proc.kill()
                await self._proc.wait()
        if self._reader:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._log:
            self._log.close()
