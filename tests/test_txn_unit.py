"""Transaction ids (bot/txn.py): stable for one database across restarts, distinct across databases."""

from __future__ import annotations

from pathlib import Path

from bot import txn
from bot.store import Store


async def plan_for(db: Path, cause: str) -> str | None:
    store = await Store.open(db)
    try:
        await store.migrate("txn", txn.MIGRATIONS)
        log = txn.SentLog(store)
        await log.prune()

        async def no_scan(_room: str, _txn: str) -> str | None:
            return None

        with txn.caused_by(cause):
            plan = await log.plan("!r:hs", "m.room.message", "DEVICE", no_scan)
        await log.flush()
        return plan.txn_id
    finally:
        await store.close()


async def test_same_database_same_id_after_a_restart(tmp_path: Path) -> None:
    first = await plan_for(tmp_path / "a.sqlite3", "outbox:1:create")
    again = await plan_for(tmp_path / "a.sqlite3", "outbox:1:create")
    assert first is not None and first == again


async def test_a_fresh_database_never_reuses_an_old_ones_ids(tmp_path: Path) -> None:
    # Causes are numbered per database (outbox item 1 ...): with the same device, equal ids
    # would make Synapse drop the new database's messages as repeats.
    old = await plan_for(tmp_path / "old.sqlite3", "outbox:1:create")
    new = await plan_for(tmp_path / "new.sqlite3", "outbox:1:create")
    assert old != new
