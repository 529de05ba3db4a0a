"""Transaction ids derived from what caused a send, so a resend after a crash says nothing twice.

Synapse deduplicates ``PUT /rooms/{room}/send/{type}/{txnId}`` per device (access
token) and transaction id: a second PUT with the same id returns the first
event instead of sending a new one. nio uses a random id per call, so a bot that
re-handles an event after a crash (it sends, then dies before recording that
it handled the event) would speak twice. Here every send gets an id that is a
hash of its *cause* (the handled event's id, or an outbox item and purpose
named by a background sender) and the send's place in that cause's sends, so
re-handling produces the same ids and the duplicates collapse on the server.

Where the server cannot help (the device was lost with its store and the bot
logged in as a new one; Synapse's own memory of a transaction id expires), the
send is recorded *before* it goes out (``sent_messages``) and carries its id
in the content; a replayed cause finds the earlier event either in the record
or by looking for that id in the room's recent messages, and does not send.

The cause of the event being handled is set by the intake (``caused_by``) and
read by the gateway, so capabilities get this without passing anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from bot.batchwrite import BatchedWrites
from bot.clock import Clock, unix, utcnow
from bot.store import Store

log = logging.getLogger(__name__)

MIGRATIONS = [
    """
    CREATE TABLE sent_messages (
        txn_id TEXT PRIMARY KEY,
        room_id TEXT NOT NULL,
        cause TEXT NOT NULL,
        device_id TEXT NOT NULL,
        event_id TEXT,
        sent_at REAL NOT NULL
    );
    CREATE INDEX sent_messages_at ON sent_messages(sent_at)
    """,
    # A random namespace per database, mixed into every transaction id: causes are numbered
    # per database (outbox item 1, ...), so a bot started on a fresh data dir with the same
    # device (a configured access token) would otherwise reuse an earlier database's ids and
    # have Synapse drop its messages as repeats.
    """
    CREATE TABLE txn_namespace (id INTEGER PRIMARY KEY CHECK (id = 1), value TEXT NOT NULL)
    """,
]

CONTENT_KEY = "org.safespring.backchannel.txn"  # our id in the event, found again after a new login
KEEP_SECONDS = 30 * 24 * 3600
SCAN_LIMIT = 100  # recent room events searched for an earlier send of a replayed cause


RECORD_SQL = (
    "INSERT OR IGNORE INTO sent_messages(txn_id, room_id, cause, device_id, sent_at) "
    "VALUES (?, ?, ?, ?, ?)"
)
NOTE_SQL = "UPDATE sent_messages SET event_id=? WHERE txn_id=?"


@dataclass
class Cause:
    key: str  # e.g. "event:$abc" or "outbox:12:relay"
    replay: bool = False  # an earlier run may have handled it: look before sending again
    _seq: dict[str, int] = field(default_factory=dict)

    def purpose(self, room_id: str, event_type: str) -> str:
        """The n-th send of this cause into (room, type): stable when the handler runs again."""
        slot = f"{room_id}|{event_type}"
        n = self._seq.get(slot, 0)
        self._seq[slot] = n + 1
        return f"{slot}|{n}"


_current: ContextVar[Cause | None] = ContextVar("backchannel_cause", default=None)


@contextlib.contextmanager
def caused_by(key: str, *, replay: bool = False) -> Iterator[Cause]:
    """Every send inside this block (and tasks it starts) is caused by ``key``."""
    cause = Cause(key, replay)
    token = _current.set(cause)
    try:
        yield cause
    finally:
        _current.reset(token)


def current() -> Cause | None:
    return _current.get()


def txn_id(cause: str, purpose: str, namespace: str = "") -> str:
    """A transaction id safe in a URL path: hex of a hash of namespace, cause and purpose."""
    text = f"{namespace}\x00{cause}\x00{purpose}" if namespace else f"{cause}\x00{purpose}"
    return "bc" + hashlib.sha256(text.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class Plan:
    txn_id: str | None  # None: no cause, nio picks a random one (the old behaviour)
    already: str | None = None  # the event an earlier run already sent for this cause


Scan = Callable[[str, str], Awaitable[str | None]]  # (room_id, txn_id) -> event id found


class SentLog:
    """The record of sends made for a cause, written before each send goes out."""

    def __init__(self, store: Store, clock: Clock = utcnow) -> None:
        self.store = store
        self.clock = clock
        # Sends at the same moment (other threads' replies) share one SQLite write.
        self._records = BatchedWrites(store, RECORD_SQL)
        self._notes = BatchedWrites(store, NOTE_SQL)
        self.namespace = ""

    async def prune(self) -> None:
        """At start: this database's namespace (made once), and records past their age gone."""
        await self.store.execute(
            "INSERT OR IGNORE INTO txn_namespace(id, value) VALUES (1, ?)", (secrets.token_hex(8),)
        )
        self.namespace = str(await self.store.fetchval("SELECT value FROM txn_namespace"))
        await self.store.execute(
            "DELETE FROM sent_messages WHERE sent_at < ?", (unix(self.clock) - KEEP_SECONDS,)
        )

    async def plan(
        self,
        room_id: str,
        event_type: str,
        device_id: str,
        scan: Scan,
        explicit: str | None = None,
    ) -> Plan:
        cause = current()
        if explicit is not None:
            key, purpose, replay = explicit, f"{room_id}|{event_type}", True
        elif cause is not None:
            key, purpose, replay = cause.key, cause.purpose(room_id, event_type), cause.replay
        else:
            return Plan(None)
        txn = txn_id(key, purpose, self.namespace)
        if replay:
            row = await self.store.fetchone(
                "SELECT device_id, event_id FROM sent_messages WHERE txn_id=?", (txn,)
            )
            if row is not None:
                if row["event_id"]:
                    return Plan(txn, already=row["event_id"])
                if row["device_id"] != device_id:
                    # Synapse knows this id only for the old device: look for the event itself.
                    found = await scan(room_id, txn)
                    if found:
                        return Plan(txn, already=found)
                return Plan(txn)
        # Committed before the send goes out (awaited), shared with concurrent sends.
        await self._records.write((txn, room_id, key, device_id, unix(self.clock)))
        return Plan(txn)

    def sent(self, plan: Plan, event_id: str) -> None:
        """Note the event id, off the reply's path (if it is lost, the scan finds the event)."""
        if plan.txn_id is None:
            return
        self._notes.write_later((event_id, plan.txn_id))

    async def flush(self) -> None:
        await self._records.flush()
        await self._notes.flush()
