"""From /sync to the router, each event once.

- ``next_batch`` is persisted after every batch; a restart resumes from it with
  ``full_state`` so room state (members, power levels) is rebuilt.
- A ``limited`` timeline is backfilled from ``prev_batch`` back to the previous
  token, so a burst larger than the timeline limit loses nothing.
- A ledger of handled event ids makes redelivery harmless. An event is marked
  handled only after its effects; one that was in flight when the process died
  is handled again (its sends carry the same transaction ids, see bot/txn.py,
  so the homeserver drops the repeats), and one that was in flight in
  ``MAX_ATTEMPTS`` runs is marked failed and skipped, so no event can stop the
  bot for good.
- Events are handled in parallel across threads, in order within a thread and
  within one sender's commands (bot/ordering.py). The sync token is saved only
  when every event of its batch, and of all earlier batches, is handled: a
  crash resumes from the last batch that was completely handled, and the
  ledger skips what of the later batches was already done. Marks are written
  in groups (bot/batchwrite.py) off the event's path, each before its batch's
  token: the next event of a thread or sender does not wait for SQLite.
- Events older than the bot's birth (its first start on this data directory)
  are never acted on; events from before this process started are marked
  ``backlog`` so protections do not punish after downtime.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import nio

from bot import txn
from bot.batchwrite import BatchedWrites
from bot.clock import Clock, unix, utcnow
from bot.events import Event, parse_event
from bot.matrix import MatrixError, MatrixGateway, check
from bot.matrix.undecryptable import PendingDecryption
from bot.metrics import Metrics
from bot.ordering import GLOBAL, KeyedScheduler, order_of
from bot.store import Store

log = logging.getLogger(__name__)

MIGRATIONS = [
    """
    CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE handled_events (event_id TEXT PRIMARY KEY, handled_at REAL NOT NULL);
    CREATE INDEX handled_events_at ON handled_events(handled_at)
    """,
    # status: handled | failed | started (in flight when a run died); attempts: runs that started it
    """
    ALTER TABLE handled_events ADD COLUMN status TEXT NOT NULL DEFAULT 'handled';
    ALTER TABLE handled_events ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0
    """,
]

MAX_ATTEMPTS = 2  # runs that may die while handling one event before it is skipped

LEDGER_KEEP_SECONDS = 30 * 24 * 3600
RECENT_IN_MEMORY = 50_000

Dispatch = Callable[[Event], Awaitable[None]]
InviteHandler = Callable[[str, str], Awaitable[None]]
Job = Callable[[], Awaitable[None]]
Work = tuple[Job, tuple[str, ...], str, bool]  # job, ordering keys, scope (room), barrier


MARK_SQL = (
    "INSERT INTO handled_events(event_id, handled_at, status) VALUES (?, ?, ?) "
    "ON CONFLICT(event_id) DO UPDATE SET status=excluded.status, handled_at=excluded.handled_at"
)


class Ledger:
    def __init__(
        self,
        store: Store,
        clock: Clock = utcnow,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self._marks = BatchedWrites(store, MARK_SQL, on_error=on_error)

    async def get(self, key: str) -> str | None:
        value: str | None = await self.store.fetchval("SELECT value FROM kv WHERE key=?", (key,))
        return value

    async def put(self, key: str, value: str) -> None:
        await self.store.execute(
            "INSERT INTO kv(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )

    async def seen(self, event_id: str) -> bool:
        return (
            await self.store.fetchval(
                "SELECT 1 FROM handled_events WHERE event_id=? AND status != 'started'",
                (event_id,),
            )
            is not None
        )

    async def begin_replay(self, event_id: str) -> str:
        """For an event an earlier run may have seen: ``skip``, ``give_up`` or ``handle``.

        ``handle`` also records that this run started it, so a run that dies on it
        counts as an attempt even though nothing else was written.
        """
        row = await self.store.fetchone(
            "SELECT status, attempts FROM handled_events WHERE event_id=?", (event_id,)
        )
        if row is not None and row["status"] != "started":
            return "skip"
        if row is not None and int(row["attempts"]) >= MAX_ATTEMPTS:
            return "give_up"
        await self.store.execute(
            "INSERT INTO handled_events(event_id, handled_at, status, attempts) "
            "VALUES (?, ?, 'started', 1) ON CONFLICT(event_id) DO UPDATE SET "
            "attempts=attempts+1, handled_at=excluded.handled_at",
            (event_id, unix(self.clock)),
        )
        return "handle"

    async def mark(self, event_id: str, status: str = "handled") -> None:
        """Record that the event is done: queued, and written with the other marks of the
        moment in one go (``flush``), always before the sync token of its batch is saved.

        Not awaited on the event's path: the next event of its thread or sender need
        not wait for SQLite. If the process dies before the write, the event's batch is
        delivered again and its sends repeat with the same transaction ids (bot/txn.py),
        as for a death just before the mark.
        """
        self._marks.write_later((event_id, unix(self.clock), status))

    async def flush(self) -> None:
        """Every mark queued so far is written."""
        await self._marks.flush()

    async def prune(self) -> None:
        await self.store.execute(
            "DELETE FROM handled_events WHERE handled_at < ?",
            (unix(self.clock) - LEDGER_KEEP_SECONDS,),
        )


class Intake:
    def __init__(
        self,
        matrix: MatrixGateway,
        store: Store,
        metrics: Metrics,
        dispatch: Dispatch,
        on_invite: InviteHandler,
        *,
        timeline_limit: int,
        sync_timeout_ms: int,
        max_failures: int = 20,
        clock: Clock = utcnow,
        concurrency: int = 32,
        command_prefix: str = "!",
    ) -> None:
        self.matrix = matrix
        self.metrics = metrics
        self.ledger = Ledger(store, clock, on_error=lambda _: metrics.errors.labels("ledger").inc())
        self.dispatch = dispatch
        self.on_invite = on_invite
        self.timeline_limit = timeline_limit
        self.sync_timeout_ms = sync_timeout_ms
        self.max_failures = max_failures
        self.clock = clock
        self.process_start_ms = int(unix(clock) * 1000)
        self.birth_ms = self.process_start_ms
        self._handled: dict[str, None] = {}  # insertion-ordered: oldest evicted first
        self.synced_once = asyncio.Event()
        self._queue: asyncio.Queue[tuple[list[Work], str] | None] = asyncio.Queue(maxsize=64)
        self.scheduler = KeyedScheduler(concurrency)
        self.command_prefix = command_prefix
        self._stopping = asyncio.Event()
        self.last_sync_ok = 0.0
        self.pending = PendingDecryption()
        self._queued = 0  # events in batches not yet handed to the scheduler
        metrics.intake_pending.set_function(lambda: self._queued + self.scheduler.pending)

    async def load(self) -> None:
        birth = await self.ledger.get("birth_ms")
        if birth is None:
            await self.ledger.put("birth_ms", str(self.birth_ms))
        else:
            self.birth_ms = int(birth)
        await self.ledger.prune()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Sync until stopped; gives up (raises) after ``max_failures`` failures in a row.

        Syncing and handling run as two tasks joined by a bounded queue: a
        handler may wait for something only a later sync brings (a DM room it
        just created, say) without stalling the sync that would bring it.
        """
        await self.load()
        token = await self.ledger.get("next_batch")
        first = True
        failures = 0
        sync_filter = {
            "room": {
                "timeline": {"limit": self.timeline_limit},
                "state": {"lazy_load_members": False},
            }
        }
        consumer = asyncio.create_task(self._consume(), name="intake-handlers")
        self._consumer = consumer
        try:
            while not self._stopping.is_set() and not consumer.done():
                try:
                    resp = await self._sync_once(token, first, sync_filter)
                    batch = await self._collect(resp, token, replay=first)
                except (TimeoutError, MatrixError, OSError) as exc:
                    if self._stopping.is_set():
                        break
                    failures += 1
                    self.metrics.errors.labels("sync").inc()
                    if failures >= self.max_failures:
                        raise
                    delay = min(60.0, 0.5 * 2**failures)
                    log.warning(
                        "sync failed (%s), retry %d/%d in %.1fs",
                        exc,
                        failures,
                        self.max_failures,
                        delay,
                    )
                    await self._sleep(delay)
                    continue
                failures = 0
                next_batch: str = resp.next_batch
                token = next_batch
                self._queued += len(batch)
                await self._queue.put((batch, next_batch))
                self.last_sync_ok = unix(self.clock)
                self.metrics.synced(self.last_sync_ok)
                first = False
        finally:
            # Finish what was already received (each event once; the token is
            # saved only after its batch is handled), then stop.
            if not consumer.done():
                await self._queue.put(None)
                await consumer
        if consumer.done() and not consumer.cancelled() and consumer.exception():
            raise RuntimeError("event handling stopped") from consumer.exception()
        if not self._stopping.is_set():
            raise RuntimeError("event handling stopped")  # never silently deaf

    async def _consume(self) -> None:
        """Hand each batch's events to the scheduler; save tokens in order as batches complete."""
        saves: asyncio.Queue[tuple[list[asyncio.Future[None]], str] | None] = asyncio.Queue()
        saver = asyncio.create_task(self._save_tokens(saves), name="intake-tokens")
        try:
            while (item := await self._queue.get()) is not None:
                if saver.done():
                    break
                batch, token = item
                dones = []
                for work in batch:
                    dones.append(await self.scheduler.submit(*work))
                    self._queued -= 1
                saves.put_nowait((dones, token))
            await self.scheduler.drain()
        finally:
            saves.put_nowait(None)
            await saver

    async def _save_tokens(
        self, saves: asyncio.Queue[tuple[list[asyncio.Future[None]], str] | None]
    ) -> None:
        while (item := await saves.get()) is not None:
            dones, token = item
            if dones:
                await asyncio.gather(*dones)
            await self.ledger.flush()  # the batch's events are recorded before its token
            await self.ledger.put("next_batch", token)
            self.synced_once.set()  # the first batch (invites included) is fully handled

    def stalled_for(self) -> float:
        """Seconds events have waited without any finishing (0 when nothing waits)."""
        if self.scheduler.pending:
            return self.scheduler.stalled_for()
        return 0.0

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _sync_once(
        self, token: str | None, first: bool, sync_filter: dict[str, Any]
    ) -> nio.SyncResponse:
        sync = asyncio.ensure_future(
            self.matrix.client.sync(
                timeout=0 if first else self.sync_timeout_ms,
                since=token,
                full_state=first,
                sync_filter=sync_filter,
            )
        )
        stop = asyncio.ensure_future(self._stopping.wait())
        done, _ = await asyncio.wait({sync, stop}, return_when=asyncio.FIRST_COMPLETED)
        if sync not in done:
            sync.cancel()
            raise TimeoutError("stopping")
        stop.cancel()
        resp = check(sync.result(), nio.SyncResponse, "sync")
        await self.matrix.sync_processed()
        return resp

    async def _collect(
        self, resp: nio.SyncResponse, since: str | None, *, replay: bool = False
    ) -> list[Work]:
        """The batch's work, in order: invites, then each room's timeline (backfilled if limited)."""
        jobs: list[Work] = []
        for room_id in resp.rooms.invite:
            inviter = _inviter(resp.rooms.invite[room_id], self.matrix.user_id)
            jobs.append((partial(self._invite, room_id, inviter), (), GLOBAL, True))
        for room_id, raw in self._late_keys(resp):
            work = self._work(room_id, raw, replay=replay)
            if work is not None:
                jobs.append(work)
        for room_id, room in resp.rooms.join.items():
            for ev in room.state:
                self._note_state(room_id, ev.source)
            raw_events = [ev.source for ev in room.timeline.events]
            if room.timeline.limited and since and room.timeline.prev_batch:
                try:
                    older = await self.matrix.messages_between(
                        room_id, room.timeline.prev_batch, since
                    )
                    log.info("backfilled %d events in %s", len(older), room_id)
                    raw_events = older + raw_events
                except MatrixError:
                    self.metrics.errors.labels("backfill").inc()
                    log.exception("backfill of %s failed", room_id)
            for raw in raw_events:
                if isinstance(raw, dict) and raw.get("type") == "m.room.encrypted":
                    # Keep what we cannot decrypt yet: its room key may come in a later sync.
                    clear = _decrypted(self.matrix, room_id, raw)
                    if clear.get("type") == "m.room.encrypted":
                        await self._undecryptable(room_id, raw)
                        continue
                    raw = clear
                work = self._work(room_id, raw, replay=replay)
                if work is not None:
                    jobs.append(work)
        return jobs

    def _work(self, room_id: str, raw: Any, *, replay: bool = False) -> Work | None:
        """Parse one raw event (never raises: bad content is counted and treated as absent)."""
        try:
            raw = _decrypted(self.matrix, room_id, raw)
            self._note_state(room_id, raw)
            malformed: list[str] = []
            event = parse_event(room_id, raw, cutoff_ms=self.process_start_ms, malformed=malformed)
            for name in malformed:
                self.metrics.malformed.labels(name).inc()
        except Exception:
            self.metrics.errors.labels("parse").inc()
            log.exception("could not read an event in %s", room_id)
            return None
        if not event.event_id or event.type == "m.room.encrypted" or event.ts < self.birth_ms:
            return None
        if event.sender == self.matrix.user_id:
            # Our own echo (one per reply): nothing handles it, so skip the ledger's
            # two SQLite round trips, which cost more CPU than the rest of the path.
            return None
        keys, barrier = order_of(event, self.command_prefix)
        # Only the first sync of a process (from the saved token) and anything stamped
        # before the start can hold events an earlier run handled or died on; later
        # syncs bring only what the server had not got when this run first synced.
        replay = replay or event.ts < self.process_start_ms
        return (partial(self._one, event, replay), keys, room_id, barrier)

    async def _invite(self, room_id: str, inviter: str) -> None:
        await self._guard(partial(self.on_invite, room_id, inviter), f"invite {room_id}")

    def _late_keys(self, resp: nio.SyncResponse) -> list[tuple[str, dict[str, Any]]]:
        """Kept events whose room keys this sync brought, now decrypted."""
        if not len(self.pending):
            return []
        sessions = {
            ev.session_id
            for ev in resp.to_device_events
            if isinstance(ev, nio.RoomKeyEvent | nio.ForwardedRoomKeyEvent)
        }
        if not sessions:
            return []

        def decrypt(room_id: str, raw: dict[str, Any]) -> dict[str, Any] | None:
            clear = _decrypted(self.matrix, room_id, raw, quiet=True)
            return None if clear.get("type") == "m.room.encrypted" else clear

        done = self.pending.retry(decrypt, sessions)
        if done:
            self.metrics.decrypted_late.inc(len(done))
            log.info("decrypted %d kept event(s) after their room keys arrived", len(done))
        return done

    async def _undecryptable(self, room_id: str, raw: dict[str, Any]) -> None:
        """Keep an event we cannot decrypt yet; its key may come in a later sync."""
        sender = raw.get("sender")
        if sender == self.matrix.user_id or int(raw.get("origin_server_ts") or 0) < self.birth_ms:
            return
        if not self.pending.park(room_id, raw):
            return
        self.metrics.undecryptable.inc()
        log.warning(
            "kept undecryptable %s from %s in %s until its room key arrives (%d kept)",
            raw.get("event_id"),
            sender,
            room_id,
            len(self.pending),
        )
        try:
            event = nio.Event.parse_encrypted_event(raw)
            event.room_id = room_id
            if isinstance(event, nio.MegolmEvent):
                await self.matrix.client.request_room_key(event)
        except (nio.LocalProtocolError, OSError, TimeoutError) as exc:
            log.debug("no room key request for %s: %s", raw.get("event_id"), exc)

    def _note_state(self, room_id: str, raw: dict[str, Any]) -> None:
        if raw.get("type") == "m.room.create":
            try:
                self.matrix.note_create_event(room_id, raw)
            except Exception:  # a malformed create event must not stop the batch
                self.metrics.errors.labels("parse").inc()
                log.exception("could not read the create event of %s", room_id)

    async def _one(self, event: Event, replay: bool = True) -> None:
        event_id = event.event_id
        if event_id in self._handled:
            return
        # Events an earlier run cannot have seen are checked in memory only, which
        # saves SQLite round trips per event on the hot path.
        try:
            if replay:
                verdict = await self.ledger.begin_replay(event_id)
                if verdict == "skip":
                    self._remember(event_id)
                    return
                if verdict == "give_up":
                    log.error("event %s was in flight in %d runs: skipped", event_id, MAX_ATTEMPTS)
                    self.metrics.errors.labels("poison_event").inc()
                    await self.ledger.mark(event_id, "failed")
                    self._remember(event_id)
                    return
            self.metrics.sync_lag.set(max(0.0, unix(self.clock) - event.ts / 1000))
            status = "handled"
            with txn.caused_by(f"event:{event_id}", replay=replay):
                try:
                    await self.dispatch(event)
                except Exception:  # counted by the router; recorded, and never retried
                    log.exception("handling %s failed", event_id)
                    status = "failed"
            await self.ledger.mark(event_id, status)
        except Exception:
            # The ledger itself failed (disk full, say): count it, keep going.
            self.metrics.errors.labels("ledger").inc()
            log.exception("ledger failed for %s", event_id)
        self._remember(event_id)

    def _remember(self, event_id: str) -> None:
        self._handled[event_id] = None
        if len(self._handled) > RECENT_IN_MEMORY:
            del self._handled[next(iter(self._handled))]

    async def _guard(self, work: Callable[[], Awaitable[None]], what: str) -> bool:
        try:
            await work()
        except Exception:
            self.metrics.errors.labels("intake").inc()
            log.exception("%s failed", what)
            return False
        return True


def _inviter(invite_room: Any, me: str) -> str:
    for ev in getattr(invite_room, "invite_state", []):
        if isinstance(ev, nio.InviteMemberEvent) and ev.state_key == me:
            sender: str = ev.sender
            return sender
    return ""


def _decrypted(
    matrix: MatrixGateway, room_id: str, raw: dict[str, Any], *, quiet: bool = False
) -> dict[str, Any]:
    """Raw dict of an event, decrypting it first when the room is encrypted."""
    if raw.get("type") != "m.room.encrypted" or matrix.client.olm is None:
        return raw
    try:
        event = nio.Event.parse_encrypted_event(raw)
        event.room_id = room_id
        decrypted = matrix.client.decrypt_event(event)
    except Exception as exc:
        if not quiet:
            log.info("could not decrypt %s in %s: %s", raw.get("event_id"), room_id, exc)
        return raw
    source: dict[str, Any] = decrypted.source
    return source
