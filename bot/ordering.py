"""Handle events in parallel where order does not matter, in order where it does.

Each job names the keys it must be ordered on (a thread; a sender's commands outside threads)
and a scope (its room). A job starts only after every earlier job sharing one
of its keys has finished, so one thread is handled strictly in arrival order
while other threads run alongside it, at most ``limit`` at a time. A *barrier*
job (a reaction, an edit, a redaction, a membership change) waits for every
earlier job of its scope and every later job of the scope waits for it: those
events can touch any thread of the room. A global barrier (an invite) orders
against everything.

Submission order is the order of /sync, so the homeserver's order is kept
wherever it matters. ``submit`` blocks once ``max_pending`` jobs are waiting
or running: backpressure reaches the sync loop instead of memory growing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from bot.events import Event, Kind

Job = Callable[[], Awaitable[None]]
GLOBAL = "*"


def order_of(event: Event, command_prefix: str) -> tuple[tuple[str, ...], bool]:
    """(keys, barrier) for one event: a thread key, and a sender key for commands."""
    room = event.room_id
    if event.kind is Kind.message and not event.is_edit:
        keys = [f"{room}|thread|{event.thread_id}"]
        if event.reply_to and event.reply_to != event.thread_root:
            # A plain reply is handled after the event it answers ("!why" on an answer).
            keys.append(f"{room}|thread|{event.reply_to}")
        if event.body.startswith(command_prefix) and event.thread_root is None:
            # A sender's commands outside threads are one conversation with the bot and keep
            # their order. Inside a thread the thread key already orders them, and one
            # sender's commands in two threads are about two different things: they run
            # side by side.
            keys.append(f"{room}|sender|{event.sender}")
        return tuple(keys), False
    return (), True


class KeyedScheduler:
    def __init__(self, limit: int, max_pending: int = 1024) -> None:
        self._running = asyncio.Semaphore(limit)
        self._slots = asyncio.Semaphore(max_pending)
        self._tails: dict[str, asyncio.Future[None]] = {}
        self._scope_barrier: dict[str, asyncio.Future[None]] = {}
        self._scope_members: dict[str, set[asyncio.Future[None]]] = {}
        self._global: asyncio.Future[None] | None = None
        self._all: set[asyncio.Future[None]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.pending = 0
        self.last_progress = time.monotonic()

    async def submit(
        self, job: Job, keys: Sequence[str], scope: str, barrier: bool = False
    ) -> asyncio.Future[None]:
        """Schedule ``job``; returns a future resolved when it has finished (never failed)."""
        await self._slots.acquire()
        if self.pending == 0:
            self.last_progress = time.monotonic()  # a stall is measured from when work arrived
        self.pending += 1
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        preds: list[asyncio.Future[None]] = []
        if scope == GLOBAL:
            preds.extend(self._all)
            self._global = done
            self._scope_barrier.clear()
            self._scope_members.clear()
            self._tails.clear()
        else:
            if self._global is not None:
                preds.append(self._global)
            if (b := self._scope_barrier.get(scope)) is not None:
                preds.append(b)
            members = self._scope_members.setdefault(scope, set())
            if barrier:
                preds.extend(members)
                preds.extend(self._tails[k] for k in keys if k in self._tails)
                members.clear()
                self._scope_barrier[scope] = done
            else:
                preds.extend(self._tails[k] for k in keys if k in self._tails)
                members.add(done)
            for key in keys:
                self._tails[key] = done
        self._all.add(done)
        task = asyncio.create_task(self._run(job, preds, done, tuple(keys), scope))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return done

    async def _run(
        self,
        job: Job,
        preds: list[asyncio.Future[None]],
        done: asyncio.Future[None],
        keys: tuple[str, ...],
        scope: str,
    ) -> None:
        try:
            for pred in preds:  # each resolves with None, never fails
                if not pred.done():
                    await pred
            async with self._running:
                await job()  # jobs contain their own failures; see Intake
        finally:
            self._forget(done, keys, scope)
            self.pending -= 1
            self.last_progress = time.monotonic()
            self._slots.release()
            if not done.done():
                done.set_result(None)

    def _forget(self, done: asyncio.Future[None], keys: tuple[str, ...], scope: str) -> None:
        self._all.discard(done)
        for key in keys:
            if self._tails.get(key) is done:
                del self._tails[key]
        members = self._scope_members.get(scope)
        if members is not None:
            members.discard(done)
            if not members:
                del self._scope_members[scope]
        if self._scope_barrier.get(scope) is done:
            del self._scope_barrier[scope]
        if self._global is done:
            self._global = None

    def stalled_for(self) -> float:
        """Seconds without a finished job while jobs wait; 0 when idle."""
        return time.monotonic() - self.last_progress if self.pending else 0.0

    async def drain(self) -> None:
        """Wait for every submitted job."""
        while self._all:
            await asyncio.gather(*list(self._all))

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()
