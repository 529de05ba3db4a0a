"""Support operations on the event path, and 10,000 open SLA timers.

    .venv/bin/python -m benchmarks.bench_support            # ~1 min
    .venv/bin/python -m benchmarks.bench_support --events 4000 --no-write

In one process, with the stub gateway and real SQLite store of bench_foundation:

- router events/s with the baseline registry (a no-op passive and a no-op command) and
  with the same registry plus the support package's passive handlers (calendar, thread
  table, SLA timer, triage card plan), alternated A B B A; the ratio is what support costs.
  Two event mixes: every message a new customer thread (worst case: three inserts each) and
  replies in known threads (one indexed look-up each).
- 10,000 open timers: time to start them, one checker pass with none due and with all due,
  Python heap growth (tracemalloc) and the SQLite file size.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from benchmarks.bench_foundation import StubGateway, bench_registry, synthetic_events
from bot import intake as intake_mod
from bot.config import Config, build_config
from bot.context import Services
from bot.events import Event, parse_event
from bot.matrix import MatrixGateway
from bot.metrics import Metrics
from bot.registry import Registry
from bot.roles import Roles
from bot.router import Router
from bot.store import Store
from commands.support import commands as support_commands
from commands.support.repository import MIGRATIONS

RESULTS = Path(__file__).parent / "results" / "support.json"
WEDNESDAY_10 = datetime(2026, 6, 17, 8, 0, tzinfo=UTC)  # staffed: no out-of-hours replies


class Stub(StubGateway):
    async def edit(self, room_id: str, event_id: str, html: str, plain: str | None = None) -> None:
        return None

    async def get_event(self, room_id: str, event_id: str) -> Event:
        raise KeyError(event_id)


def config(data_dir: Path) -> Config:
    return build_config(
        matrix={"homeserver": "http://localhost", "user_id": Stub.user_id, "password": "x"},
        rooms={"support": "!support:localhost", "staff": "!staff:localhost"},
        bot={"data_dir": str(data_dir)},
        web={"enabled": False},
        support={"out_of_hours_reply": False},
    )


def with_support() -> Registry:
    reg = bench_registry()
    support = Registry()
    support.include(support_commands)
    reg.passives.extend(p for p in support.passives if p.name.startswith("support"))
    return reg


def reply_events(n: int, support: str, roots: list[str]) -> list[dict[str, Any]]:
    now = int(time.time() * 1000) + 60_000
    return [
        {
            "event_id": f"$reply{i}",
            "type": "m.room.message",
            "sender": "@someone:localhost",
            "origin_server_ts": now + i,
            "room_id": support,
            "content": {
                "msgtype": "m.text",
                "body": f"more detail {i}",
                "m.relates_to": {"rel_type": "m.thread", "event_id": roots[i % len(roots)]},
            },
        }
        for i in range(n)
    ]


async def rate(router: Router, events: list[Event]) -> float:
    started = time.perf_counter()
    for e in events:
        await router.dispatch(e)
    return len(events) / (time.perf_counter() - started)


async def event_path(tmp: Path, n: int) -> dict[str, Any]:
    cfg = config(tmp)
    out: dict[str, Any] = {}
    for mix in ("new_threads", "thread_replies"):
        store = await Store.open(tmp / f"{mix}.sqlite3")
        await store.migrate("core", intake_mod.MIGRATIONS)
        await store.migrate("support", MIGRATIONS)
        stub = cast(MatrixGateway, Stub())
        services = Services(
            config=cfg,
            store=store,
            matrix=stub,
            roles=Roles(cfg, stub),
            metrics=Metrics(),
            clock=lambda: WEDNESDAY_10,
        )
        services.extras["support"] = support_commands.Support(services, cfg.support)
        base, sup = Router(services, bench_registry()), Router(services, with_support())
        plain = [
            r
            for r in synthetic_events(n * 2, cfg.rooms.support, cfg.rooms.staff, "@c:localhost")
            if r["room_id"] == cfg.rooms.support and not r["content"]["body"].startswith("!")
        ][:n]
        if mix == "new_threads":
            batches = [
                [
                    parse_event(r["room_id"], {**r, "event_id": f"{r['event_id']}-{k}"})
                    for r in plain
                ]
                for k in range(4)
            ]
        else:
            roots = [r["event_id"] for r in plain[:200]]
            for r in plain[:200]:  # the threads exist
                await sup.dispatch(parse_event(r["room_id"], r))
            batches = [
                [
                    parse_event(r["room_id"], {**r, "event_id": f"{r['event_id']}-{k}"})
                    for r in reply_events(n, cfg.rooms.support, roots)
                ]
                for k in range(4)
            ]
        await rate(base, batches[0][:200])  # warm-up
        a1 = await rate(base, batches[0])
        b1 = await rate(sup, batches[1])
        b2 = await rate(sup, batches[2])
        a2 = await rate(base, batches[3])
        baseline, support = (a1 + a2) / 2, (b1 + b2) / 2
        out[mix] = {
            "baseline_events_per_s": round(baseline),
            "support_events_per_s": round(support),
            "ratio_support_over_baseline": round(support / baseline, 3),
        }
        await store.close()
    return out


def _size(folder: Path, pattern: str) -> int:
    return sum(p.stat().st_size for p in folder.glob(pattern))


async def timers(tmp: Path, n: int) -> dict[str, Any]:
    cfg = config(tmp)
    path = tmp / "timers.sqlite3"
    store = await Store.open(path)
    await store.migrate("support", MIGRATIONS)
    stub = cast(MatrixGateway, Stub())
    services = Services(
        config=cfg,
        store=store,
        matrix=stub,
        roles=Roles(cfg, stub),
        metrics=Metrics(),
        clock=lambda: WEDNESDAY_10,
    )
    svc = support_commands.Support(services, cfg.support)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    for i in range(n):
        await svc.timers.start(
            "!support:localhost", f"$t{i}", WEDNESDAY_10 + timedelta(seconds=i % 600)
        )
    start_s = time.perf_counter() - started
    held = tracemalloc.get_traced_memory()[0] - before
    started = time.perf_counter()
    none_due = await svc.timers.fire_due(WEDNESDAY_10)
    pass_none_ms = (time.perf_counter() - started) * 1000
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    all_due = await svc.timers.fire_due(WEDNESDAY_10 + timedelta(days=7))
    pass_all_ms = (time.perf_counter() - started) * 1000
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    open_count = await svc.timers.open_count()
    await store.close()
    assert not none_due and len(all_due) == n and open_count == n
    return {
        "timers": n,
        "start_per_timer_ms": round(start_s / n * 1000, 3),
        "checker_pass_none_due_ms": round(pass_none_ms, 2),
        "checker_pass_all_due_ms": round(pass_all_ms, 1),
        "python_heap_held_after_start_kib": round(held / 1024),
        "python_heap_peak_all_due_pass_kib": round(peak / 1024),
        "sqlite_file_kib": round(await asyncio.to_thread(_size, tmp, "timers.sqlite3*") / 1024),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        return {
            "machine": {"cpus": os.cpu_count(), "loadavg": os.getloadavg()},
            "event_path": await event_path(tmp, args.events),
            "open_timers": await timers(tmp, args.timers),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_support")
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2))
    if not args.no_write:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
