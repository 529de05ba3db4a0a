"""Sliding-window counters, once: how many times a key was hit within the last N seconds."""

from __future__ import annotations

from collections import deque


class RateWindow:
    """Timestamps per key within ``window`` seconds (in memory: a restart forgets).

    ``keep_edge``: an entry exactly ``window`` old still counts (strike memory) or has
    just expired (rate limits); kept per caller so their behaviour is what it was.
    """

    def __init__(self, window: float, *, keep_edge: bool = False) -> None:
        self.window = window
        self.keep_edge = keep_edge
        self._at: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._at.setdefault(key, deque())
        while q and (now - q[0] > self.window if self.keep_edge else now - q[0] >= self.window):
            q.popleft()
        return q

    def add(self, key: str, now: float) -> int:
        """Record a hit; how many there are in the window, this one included."""
        q = self._recent(key, now)
        q.append(now)
        return len(q)

    def count(self, key: str, now: float) -> int:
        return len(self._recent(key, now))

    def oldest(self, key: str, now: float) -> float | None:
        q = self._recent(key, now)
        return q[0] if q else None
