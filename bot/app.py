"""Composition root: builds everything from the config, runs it, stops it cleanly.

Features plug in through ``FEATURES``: each module has ``async def setup(app)``
that registers its migrations, services, background tasks and web routes.
Their commands register themselves on import (see bot/registry.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from bot import intake as intake_mod
from bot import txn
from bot.capability import capabilities
from bot.clock import utcnow
from bot.config import Config
from bot.context import Services
from bot.dms import DmGuard
from bot.events import Event
from bot.intake import Intake
from bot.matrix import MatrixError, MatrixGateway
from bot.metrics import Metrics
from bot.registry import Registry
from bot.roles import Roles
from bot.router import Router
from bot.store import Store
from bot.web import build_web_app, start_web

log = logging.getLogger(__name__)

BackgroundJob = Callable[[], Awaitable[None]]


class TaskDied(RuntimeError):
    """A task the bot cannot work without ended: the process exits non-zero."""

    def __init__(self, name: str) -> None:
        super().__init__(f"task {name} ended; stopping so a supervisor restarts the bot")


class App:
    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], datetime] = utcnow,
        commands: Registry | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.registry = commands if commands is not None else Registry()
        self.data_dir = config.bot.data_dir
        self.metrics = Metrics()
        self.web = build_web_app(
            self.metrics,
            # Not ready before the start is complete (first batch handled, rooms joined).
            lambda: self.intake.last_sync_ok if self._intake and self.ready.is_set() else 0.0,
            config.web.ready_max_sync_age_s,
            clock,
            stalled_for=lambda: self.intake.stalled_for() if self._intake else 0.0,
            max_stall_s=config.web.ready_max_stall_s,
            cross_signed=lambda: (
                self.services.matrix.cross_signed_for_readiness()
                if hasattr(self, "services")
                else False
            ),
        )
        self._jobs: list[tuple[str, BackgroundJob]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._on_stop: list[Callable[[], Awaitable[None]]] = []
        self._intake: Intake | None = None
        self._runner: web.AppRunner | None = None
        self.ready = asyncio.Event()
        self.services: Services

    @property
    def intake(self) -> Intake:
        assert self._intake is not None
        return self._intake

    def add_job(self, name: str, job: BackgroundJob) -> None:
        """A background loop (RT poller, daily access check...) started once the bot is synced."""
        self._jobs.append((name, job))

    def on_stop(self, hook: Callable[[], Awaitable[None]]) -> None:
        self._on_stop.append(hook)

    async def start(self) -> None:
        """Everything up to (and including) the first sync; then jobs start."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        store = await Store.open(self.data_dir / "backchannel.sqlite3")
        await store.migrate("core", intake_mod.MIGRATIONS)
        await store.migrate("txn", txn.MIGRATIONS)
        matrix = MatrixGateway(self.config.matrix, self.data_dir, clock=self.clock)
        matrix.sent_log = txn.SentLog(store, self.clock)
        await matrix.sent_log.prune()
        await matrix.login()
        wanted_rooms: set[str] = set()
        self.services = Services(
            config=self.config,
            store=store,
            matrix=matrix,
            roles=Roles(self.config, matrix, wanted_rooms),
            metrics=self.metrics,
            clock=self.clock,
            wanted_rooms=wanted_rooms,
        )
        self.dms = DmGuard(self.services)
        self.services.extras["registry"] = self.registry
        self.services.extras["app"] = self
        for capability in capabilities():
            await capability.setup(self)
        self.router = Router(self.services, self.registry)
        self._intake = Intake(
            matrix,
            store,
            self.metrics,
            self._dispatch,
            self._on_invite,
            timeline_limit=self.config.matrix.timeline_limit,
            sync_timeout_ms=self.config.matrix.sync_timeout_ms,
            clock=self.clock,
            concurrency=self.config.bot.max_concurrent_events,
            command_prefix=self.config.bot.command_prefix,
        )
        if self.config.web.enabled:
            self._runner = await start_web(self.web, self.config.web.listen)
        self._tasks.append(
            asyncio.create_task(self._supervise("sync", self.intake.run), name="sync")
        )
        await self._wait_first_sync()
        await self._join_configured_rooms()
        for name, job in self._jobs:
            self._tasks.append(asyncio.create_task(self._supervise(name, job), name=name))
        self.ready.set()
        log.info("backchannel is ready as %s", matrix.user_id)

    async def _wait_first_sync(self) -> None:
        sync_task = self._tasks[0]
        first = asyncio.ensure_future(self.intake.synced_once.wait())
        done, _ = await asyncio.wait({first, sync_task}, return_when=asyncio.FIRST_COMPLETED)
        if first not in done:
            first.cancel()
            sync_task.result()  # raises the sync failure

    async def _join_configured_rooms(self) -> None:
        """Join the configured and wanted rooms if needed, and wait until a sync shows them.

        Jobs (the access check, the RT poller) start after this, so they never
        see a room without its members.
        """
        matrix = self.services.matrix
        rooms = (self.config.rooms.support, self.config.rooms.staff)
        for room_id in (*rooms, *sorted(self.services.wanted_rooms - set(rooms))):
            if not matrix.knows_room(room_id):
                try:
                    await matrix.join(room_id)
                except MatrixError as exc:
                    log.error(
                        "cannot join configured room %s: %s (invite the bot first)", room_id, exc
                    )
                    continue
            if not await matrix.wait_for_room(room_id, member=matrix.user_id):
                log.error("configured room %s did not show up in sync", room_id)

    async def _on_invite(self, room_id: str, inviter: str) -> None:
        """Join the wanted rooms and DM-shaped rooms from known users (bot/dms.py)."""
        await self.dms.on_invite(room_id, inviter)

    async def _dispatch(self, event: Event) -> None:
        """A DM that this event made a group is left, not answered (bot/dms.py)."""
        if not await self.dms.on_event(event):
            await self.router.dispatch(event)

    async def _supervise(self, name: str, job: BackgroundJob) -> None:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            self.metrics.errors.labels(f"job:{name}").inc()
            log.exception("background job %s died", name)
            raise

    async def _watch(self, stop: asyncio.Event) -> None:
        """Until ``stop``: a task that fails (or the sync loop ending at all) is fatal.

        The bot without its sync loop is deaf and without a job it silently stops
        doing that job's work: exit with an error so a supervisor restarts it. A
        job that simply returns (nothing to do under this config) is fine.
        """
        waiter: asyncio.Task[Any] = asyncio.ensure_future(stop.wait())
        watched: set[asyncio.Task[Any]] = set(self._tasks)
        try:
            while not stop.is_set():
                done, watched = await asyncio.wait(
                    {waiter, *watched}, return_when=asyncio.FIRST_COMPLETED
                )
                watched.discard(waiter)
                for task in done - {waiter}:
                    exc = None if task.cancelled() else task.exception()
                    if stop.is_set():
                        return
                    if exc is not None or task.cancelled() or task is self._tasks[0]:
                        raise TaskDied(task.get_name()) from exc
        finally:
            waiter.cancel()

    async def stop(self) -> None:
        """Finish the handler in flight (the sync loop stops between events), persist, close."""
        if self._intake:
            self._intake.stop()
        sync = self._tasks[:1]
        jobs = self._tasks[1:]
        for task in jobs:
            task.cancel()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*sync, return_exceptions=True), timeout=30)
        await asyncio.gather(*jobs, return_exceptions=True)
        for hook in reversed(self._on_stop):
            try:
                await hook()
            except Exception:
                log.exception("stop hook failed")
        if self._runner:
            await self._runner.cleanup()
        if hasattr(self, "services"):
            if self.services.matrix.sent_log is not None:
                await self.services.matrix.sent_log.flush()
            await self.services.matrix.close()
            await self.services.store.close()
        self._tasks.clear()

    async def run_forever(self) -> None:
        """Run until SIGTERM/SIGINT or a fatal failure of the sync loop."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await self.start()
            await self._watch(stop)
        finally:
            log.info("stopping")
            await self.stop()
