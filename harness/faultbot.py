"""Test-only entry point: ``backchannel run`` with a SIGKILL at a chosen phase of handling one event.

    BACKCHANNEL_FAULTS="PHASE=BODY" python -m harness.faultbot run --config bot.toml

kills the process (SIGKILL: no cleanup, nothing flushed) the first time the
event whose body is exactly ``BODY`` reaches ``PHASE``:

- ``received``: the router got the event (the ledger knows it is in flight), before any effect;
- ``after_send``: a message the bot sent for it is in the homeserver, before
  anything about it is recorded;
- ``before_mark``: its effects are done, the ledger is about to record it.

``BACKCHANNEL_FAULTS="job_dies"`` adds a background job that fails after the
start, ``consumer_dies`` makes event handling fail after the first batch: the
process must exit non-zero. Production code never imports this module; it
patches the classes from outside before running the real command line.
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


def main() -> int:
    spec = os.environ.get("BACKCHANNEL_FAULTS")
    if spec:
        install(spec)
    from bot.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    raise SystemExit(main())
