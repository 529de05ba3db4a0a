"""The settling rule for RT writes whose fate is unknown (no servers: a hand-driven clock)."""

from __future__ import annotations

import pytest

from commands.escalation.reconcile import NotSettled, Reconciler
from commands.escalation.rt.errors import RTUnavailable


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


async def _absent() -> int | None:
    return None


async def _down() -> int | None:
    raise RTUnavailable("RT GET /tickets: TimeoutError")


async def test_known_fate_needs_no_search() -> None:
    r = Reconciler(3.0, Clock())
    r.first_sight(1, attempts=0)
    r.failed(1, RTUnavailable("refused"))  # never connected: nothing reached RT

    async def never() -> int | None:
        raise AssertionError("searched although nothing can have reached RT")

    assert await r.find(1, never) is None


async def test_absence_counts_only_after_a_settled_second_search() -> None:
    clock = Clock()
    r = Reconciler(3.0, clock)
    r.failed(7, RTUnavailable("timeout", maybe_applied=True))
    with pytest.raises(NotSettled) as first:
        await r.find(7, _absent)  # RT answers again: not yet proof
    assert first.value.retry_at == 103.0
    clock.t = 102.0
    with pytest.raises(NotSettled):
        await r.find(7, _absent)  # too early
    clock.t = 103.0
    assert await r.find(7, _absent) is None
    assert not r.doubted(7)


async def test_a_failing_search_restarts_the_wait_and_a_hit_ends_it() -> None:
    clock = Clock()
    r = Reconciler(3.0, clock)
    r.first_sight(9, attempts=2)  # tried before this process started (a crash)
    with pytest.raises(NotSettled):
        await r.find(9, _absent)
    clock.t = 104.0
    with pytest.raises(RTUnavailable):
        await r.find(9, _down)  # RT hangs again: the quiet window starts over
    with pytest.raises(NotSettled):
        await r.find(9, _absent)

    async def landed() -> int | None:
        return 42

    assert await r.find(9, landed) == 42
    assert await r.find(9, _absent) is None  # reconciled: no more doubt
