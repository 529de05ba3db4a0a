"""The one clock: every "now" in the bot comes from the App's injected clock (tests move it).

Durations (timeouts, "how long ago") use ``time.monotonic``/``perf_counter``; they are not a
second clock of the wall time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def unix(clock: Clock) -> float:
    """``clock``'s now as a Unix timestamp (what the tables and Matrix timestamps use)."""
    return clock().timestamp()
