"""Event ids (never bodies) of each user's recent messages, for `!redact @user N`, kept across restarts.

Memory answers `last` (a command needs it at once); `moderation_recent` keeps the same ids so
a restart forgets nothing. Pruned by age (`max_age` seconds) and size (`per_user` per room and
user) when loaded and every `PRUNE_EVERY` new rows.
"""

from __future__ import annotations

from collections import deque

from bot.store import Store

PRUNE_EVERY = 1000


class RecentMessages:
    def __init__(self, per_user: int, max_age: float) -> None:
        self.per_user = per_user
        self.max_age = max_age
        # (server ts, event id): events are handled in parallel, so arrival order is not send order
        self.ids: dict[tuple[str, str], deque[tuple[float, str]]] = {}
        self._owner: dict[tuple[str, str], tuple[str, str]] = {}  # (room, event) -> (room, user)
        self._store: Store | None = None
        self._since_prune = 0

    async def load(self, store: Store, now: float) -> None:
        self._store = store
        await self._prune(now)
        rows = await store.fetchall(
            "SELECT room_id, user_id, event_id, ts FROM moderation_recent ORDER BY ts, rowid"
        )
        for row in rows:
            self._remember(row["room_id"], row["user_id"], row["event_id"], float(row["ts"]))

    def _remember(self, room_id: str, user_id: str, event_id: str, ts: float) -> bool:
        if (room_id, event_id) in self._owner:  # a replayed event is one message, not two
            return False
        q = self.ids.setdefault((room_id, user_id), deque())
        if len(q) >= self.per_user:
            self._owner.pop((room_id, q.popleft()[1]), None)
        q.append((ts, event_id))
        self._owner[(room_id, event_id)] = (room_id, user_id)
        return True

    async def add(self, room_id: str, user_id: str, event_id: str, ts: float) -> None:
        if not self._remember(room_id, user_id, event_id, ts) or self._store is None:
            return
        await self._store.execute(
            "INSERT OR IGNORE INTO moderation_recent(room_id, user_id, event_id, ts) "
            "VALUES (?, ?, ?, ?)",
            (room_id, user_id, event_id, ts),
        )
        self._since_prune += 1
        if self._since_prune >= PRUNE_EVERY:
            await self._prune(ts)

    async def discard(self, room_id: str, event_id: str) -> None:
        key = self._owner.pop((room_id, event_id), None)
        if key is not None:
            q = self.ids.get(key, deque())
            for item in q:
                if item[1] == event_id:
                    q.remove(item)
                    break
        if self._store is not None:
            await self._store.execute(
                "DELETE FROM moderation_recent WHERE room_id=? AND event_id=?", (room_id, event_id)
            )

    def last(self, room_id: str, user_id: str, n: int) -> list[str]:
        """The user's last ``n`` messages, oldest first, by the time they were sent."""
        q = self.ids.get((room_id, user_id))
        return [event_id for _, event_id in sorted(q)[-n:]] if q else []

    async def _prune(self, now: float) -> None:
        assert self._store is not None
        self._since_prune = 0
        await self._store.execute(
            "DELETE FROM moderation_recent WHERE ts < ?", (now - self.max_age,)
        )
        await self._store.execute(
            "DELETE FROM moderation_recent WHERE rowid IN (SELECT rowid FROM (SELECT rowid, "
            "ROW_NUMBER() OVER (PARTITION BY room_id, user_id ORDER BY ts DESC, rowid DESC) AS n"
            " FROM moderation_recent) WHERE n > ?)",
            (self.per_user,),
        )
