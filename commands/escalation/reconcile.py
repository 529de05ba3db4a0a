"""RT writes whose fate is unknown: never repeat one until RT has shown it did not happen.

A create or a reply that timed out, lost its connection or got a 5xx after it was sent
(`RTUnavailable.maybe_applied`), or that was in flight when the bot died, may still land:
an RT that hung (SIGSTOP, a stuck worker) carries out the queued request when it wakes, and a
search answered by another worker at that moment does not show it yet. So an absent result
counts only when it is *settled*: a first search that RT answered after the doubt began
(RT is answering again), then, at least `reconcile_settle_seconds` after that answer, a
second search that still finds nothing. Any RT failure in between starts the wait again.
Doubts live in memory: after a restart every item that was ever attempted is doubted anew.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from commands.escalation.rt.errors import RTUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")


class NotSettled(Exception):
    """RT has not yet shown that the doubted write is absent: try again at `retry_at`."""

    def __init__(self, item_id: int, retry_at: float) -> None:
        super().__init__(f"outbox item {item_id}: waiting for RT to settle")
        self.retry_at = retry_at  # time.monotonic()


@dataclass
class _Doubt:
    since: float  # monotonic: when the write's fate became unknown
    first_clear: float | None = None  # when RT first answered "absent" after `since`


class Reconciler:
    def __init__(self, settle_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.settle_seconds = settle_seconds
        self._clock = clock
        self._doubts: dict[int, _Doubt] = {}
        self._seen: set[int] = set()

    def first_sight(self, item_id: int, attempts: int) -> None:
        """An item this process has not tried yet: any earlier attempt (a crash) is a doubt."""
        if item_id in self._seen:
            return
        self._seen.add(item_id)
        if attempts > 0:
            self.doubt(item_id)

    def doubt(self, item_id: int) -> None:
        """The write may have reached RT (or may still): settle before repeating it."""
        self._doubts[item_id] = _Doubt(since=self._clock())

    def failed(self, item_id: int, exc: RTUnavailable) -> None:
        """The attempt failed: a doubt if it may have been applied; otherwise nothing new."""
        if exc.maybe_applied:
            self.doubt(item_id)

    def forget(self, item_id: int) -> None:
        self._doubts.pop(item_id, None)
        self._seen.discard(item_id)

    def doubted(self, item_id: int) -> bool:
        return item_id in self._doubts

    async def find(self, item_id: int, lookup: Callable[[], Awaitable[T | None]]) -> T | None:
        """What RT already has for the item, or None once its absence is settled.

        Raises NotSettled while the absence is not yet proven, and RTUnavailable (which
        restarts the settling) when the search itself fails.
        """
        doubt = self._doubts.get(item_id)
        if doubt is None:
            return None  # the fate is known: no earlier attempt can have reached RT
        started = self._clock()
        try:
            found = await lookup()
        except RTUnavailable:
            doubt.first_clear = None
            raise
        if found is not None:
            self._doubts.pop(item_id, None)
            return found
        if doubt.first_clear is None:
            doubt.first_clear = self._clock()
        elif started >= doubt.first_clear + self.settle_seconds:
            self._doubts.pop(item_id, None)
            log.info("outbox item %s: RT settled, the earlier attempt did not land", item_id)
            return None
        raise NotSettled(item_id, doubt.first_clear + self.settle_seconds)
