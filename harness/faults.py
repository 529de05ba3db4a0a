"""Test-only faults, all applied from outside: production classes carry no test hooks.

Two mechanisms, both here:

- in-process wrappers a test swaps in where the real client sits
  (``app.services.escalation.rt = DiesAfterCreate(app.services.escalation.rt)``);
- ``install(spec)``: patches for a bot run as a subprocess (``python -m harness.faultbot``,
  ``BACKCHANNEL_FAULTS``) that SIGKILL it at a phase of handling one event or of relaying
  one RT reply, or make a background job / the event consumer die (see harness/faultbot.py).
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import signal
import sys
from typing import Any

from bot import app as app_mod
from bot import intake as intake_mod
from bot import matrix as matrix_mod
from bot import router as router_mod
from bot.events import Event


async def _forever() -> None:
    await asyncio.Event().wait()  # cancelled when the bot stops


class DiesAfterCreate:
    """An RT client that goes silent once RT has created a ticket, as if the bot died there.

    The create reaches RT; its answer never comes back, and no later call returns either, so
    nothing after that point runs (no mapping row, no reply) until the bot is restarted.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.created: list[int] = []
        self.dead = False

    async def create_ticket(self, *args: Any, **kwargs: Any) -> int:
        if self.dead:
            await _forever()
        ticket_id = int(await self.inner.create_ticket(*args, **kwargs))
        self.created.append(ticket_id)
        self.dead = True
        await _forever()
        raise AssertionError("unreachable")

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not asyncio.iscoroutinefunction(attr):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.dead:
                await _forever()
            return await attr(*args, **kwargs)

        return call


class DiesAfter(DiesAfterCreate):
    """The same for another write (``comment``, ``correspond``, ...): it reaches RT, then silence."""

    def __init__(self, inner: Any, method: str) -> None:
        super().__init__(inner)
        self.method = method
        self.results: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        call = super().__getattr__(name)
        if name != self.method:
            return call

        async def dies(*args: Any, **kwargs: Any) -> Any:
            self.results.append(await call(*args, **kwargs))
            self.dead = True
            await _forever()

        return dies


# ---- subprocess faults (harness/faultbot.py) ----------------------------------------

_body: contextvars.ContextVar[str | None] = contextvars.ContextVar("fault_body", default=None)


def _kill() -> None:
    sys.stderr.write("faultbot: SIGKILL\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def install(spec: str) -> None:
    phase, _, body = spec.partition("=")
    if phase == "job_dies":
        original_init = app_mod.App.__init__

        def init(self: app_mod.App, *a: Any, **kw: Any) -> None:
            original_init(self, *a, **kw)

            async def doomed() -> None:
                await asyncio.sleep(0.5)
                raise RuntimeError("fault: a background job died")

            self.add_job("fault-job", doomed)

        app_mod.App.__init__ = init  # type: ignore[method-assign]
        return
    if phase == "consumer_dies":
        original_save = intake_mod.Intake._save_tokens

        async def save(self: intake_mod.Intake, saves: Any) -> None:
            item = await saves.get()
            saves.put_nowait(item)  # the first batch is saved (the bot gets ready) ...
            task = asyncio.create_task(original_save(self, saves))
            await asyncio.sleep(1.0)
            task.cancel()
            raise RuntimeError("fault: event handling died")  # ... then handling dies

        intake_mod.Intake._save_tokens = save  # type: ignore[method-assign]
        return

    if phase.startswith("relay_"):
        _install_relay(phase, body)
        return

    original_one = intake_mod.Intake._one
    original_dispatch = router_mod.Router.dispatch
    original_send = matrix_mod.MatrixGateway.send_raw
    original_mark = intake_mod.Ledger.mark

    async def one(self: intake_mod.Intake, event: Event, *args: Any) -> None:
        _body.set(event.body)
        await original_one(self, event, *args)

    async def dispatch(self: router_mod.Router, event: Event) -> None:
        if phase == "received" and event.body == body:
            _kill()
        await original_dispatch(self, event)

    async def send_raw(self: matrix_mod.MatrixGateway, *a: Any, **kw: Any) -> str:
        event_id = await original_send(self, *a, **kw)
        if phase == "after_send" and _body.get() == body:
            _kill()
        return event_id

    async def mark(self: intake_mod.Ledger, event_id: str, status: str = "handled") -> None:
        if phase == "before_mark" and _body.get() == body:
            _kill()
        await original_mark(self, event_id, status)

    intake_mod.Intake._one = one  # type: ignore[method-assign]
    router_mod.Router.dispatch = dispatch  # type: ignore[method-assign]
    matrix_mod.MatrixGateway.send_raw = send_raw  # type: ignore[method-assign]
    intake_mod.Ledger.mark = mark  # type: ignore[method-assign]


# ---- the relay of an RT reply into its thread (RT poll -> Matrix send -> high-water mark)


_in_relay: contextvars.ContextVar[bool] = contextvars.ContextVar("fault_relay", default=False)


def _relaying() -> bool:
    return _in_relay.get()


def _install_relay(phase: str, marker: str) -> None:
    """SIGKILL while relaying the RT reply whose text holds ``marker``:

    - ``relay_fetched``: RT answered the poll and the reply's content, nothing sent yet;
    - ``relay_after_send``: the reply is in the homeserver, nothing recorded about it;
    - ``relay_before_mark``: everything sent, the high-water mark is about to be saved.
    """
    from commands.escalation import relay as relay_mod
    from commands.escalation.rt import rest2

    sent_marker = False
    original_content = rest2.RTClient.transaction_content
    original_send = matrix_mod.MatrixGateway.send_raw
    original_hw = relay_mod.Relay._set_hw
    original_relay = relay_mod.Relay._relay

    async def relay(self: relay_mod.Relay, *a: Any, **kw: Any) -> None:
        token = _in_relay.set(True)
        try:
            await original_relay(self, *a, **kw)
        finally:
            _in_relay.reset(token)

    async def transaction_content(self: rest2.RTClient, txn_id: int) -> Any:
        parts = await original_content(self, txn_id)
        if phase == "relay_fetched" and _relaying() and any(marker in p.content for p in parts):
            _kill()
        return parts

    async def send_raw(
        self: matrix_mod.MatrixGateway, room_id: str, event_type: str, content: Any, **kw: Any
    ) -> str:
        nonlocal sent_marker
        event_id = await original_send(self, room_id, event_type, content, **kw)
        if _relaying() and marker in str(content.get("body", "")):
            sent_marker = True
            if phase == "relay_after_send":
                _kill()
        return event_id

    async def set_hw(self: relay_mod.Relay, value: int) -> None:
        if phase == "relay_before_mark" and sent_marker:
            _kill()
        await original_hw(self, value)

    rest2.RTClient.transaction_content = transaction_content  # type: ignore[method-assign]
    matrix_mod.MatrixGateway.send_raw = send_raw  # type: ignore[method-assign]
    relay_mod.Relay._set_hw = set_hw  # type: ignore[method-assign]
    relay_mod.Relay._relay = relay  # type: ignore[method-assign]
