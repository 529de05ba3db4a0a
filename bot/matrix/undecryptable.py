"""Encrypted events the bot could not decrypt yet, kept until their room key arrives.

A megolm key can reach the bot after the message it opens: the sender's client
shares it late (a device it had not trusted yet, e.g. the bot's device before it
was cross-signed, or a new device after a lost store), or a key is forwarded.
Instead of dropping such an event, the intake parks it here and tries again
whenever a sync brings room keys. Bounded in count and age: an event whose key
never comes is forgotten after ``max_age_s``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Decrypt = Callable[[str, dict[str, Any]], dict[str, Any] | None]


@dataclass(frozen=True)
class Parked:
    room_id: str
    raw: dict[str, Any]
    parked_at: float

    @property
    def session_id(self) -> str:
        return str((self.raw.get("content") or {}).get("session_id") or "")


class PendingDecryption:
    def __init__(
        self,
        *,
        max_events: int = 1000,
        max_age_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_events = max_events
        self.max_age_s = max_age_s
        self.clock = clock
        self._events: OrderedDict[str, Parked] = OrderedDict()  # oldest first
        self.expired = 0

    def __len__(self) -> int:
        return len(self._events)

    def park(self, room_id: str, raw: dict[str, Any]) -> bool:
        """Keep ``raw`` for a later try; False when it was already parked."""
        event_id = str(raw.get("event_id") or "")
        if not event_id or event_id in self._events:
            return False
        self._events[event_id] = Parked(room_id, raw, self.clock())
        while len(self._events) > self.max_events:
            self._events.popitem(last=False)
            self.expired += 1
        return True

    def sessions(self) -> set[str]:
        return {p.session_id for p in self._events.values()}

    def retry(
        self, decrypt: Decrypt, sessions: set[str] | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        """(room_id, decrypted raw) of every parked event that decrypts now, oldest first.

        ``sessions`` limits the attempt to events of those megolm sessions
        (the ones a sync just brought keys for); None tries all.
        """
        self._expire()
        out: list[tuple[str, dict[str, Any]]] = []
        for event_id, parked in list(self._events.items()):
            if sessions is not None and parked.session_id not in sessions:
                continue
            clear = decrypt(parked.room_id, parked.raw)
            if clear is not None:
                del self._events[event_id]
                out.append((parked.room_id, clear))
        return out

    def _expire(self) -> None:
        cutoff = self.clock() - self.max_age_s
        while self._events:
            oldest = next(iter(self._events.values()))
            if oldest.parked_at >= cutoff:
                break
            self._events.popitem(last=False)
            self.expired += 1
