"""Access benchmark: ``!join`` to invite for an auto-admitted person; the daily check at 10,000 members.

    .venv/bin/python -m benchmarks.bench_access [--people 20] [--members 10000]

1. Join latency (real Synapse started here, bot in-process as in the tests):
   each of N fresh people opens a DM with the bot and sends ``!join ACME``
   (ACME owns the test homeserver, so they are admitted at once). Measured:
   server time from the ``!join`` event to the bot's invite event (both
   ``origin_server_ts`` of the same Synapse), and wall time from sending to an
   observer's client seeing the invite. Baseline in the same run: ``!ping`` in
   the same DM, sent to the reply seen (wall) and message-to-reply (server).
2. Daily check: a store with M synthetic members over 200 organisations (5 %
   of grants past their end, 2 organisations without the tier, so ~6 % must
   end); one ``AccessService.check`` pass (plan + the state changes and audit
   rows in one transaction). Matrix effects (kick/DM per ended grant) are not
   part of the pass measured: they are one homeserver call each and scale with
   the number of changes, not members. Baseline: reading all member rows
   (``SELECT *``) once. RSS of the process before/after and the Python heap
   peak (tracemalloc) during the pass.

Results: stdout and ``benchmarks/results/access.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.store import Store
from commands.access.models import Org
from commands.access.service import MIGRATIONS, AccessService
from commands.access.settings import AccessSettings
from harness.matrix_helpers import World, running_bot
from harness.synapse_server import Synapse, free_port
from harness.world import build_world, make_person

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "access.json"


def rss_kib() -> dict[str, int]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0]] = int(line.split()[1])
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# ---- 1. join latency --------------------------------------------------------------------------


async def join_latency(world: World, people: int) -> dict[str, Any]:
    bot = world.bot.user_id
    config = world.config(access={"check_poll_seconds": 5})
    server_join, wall_join, server_ping, wall_ping = [], [], [], []
    async with running_bot(config) as app:
        org = Org(
            id="ACME", name="Acme AB", products=["SUPPORT-standard"], homeservers=["localhost"]
        )
        await app.services.access.upsert_org(org, "bench")
        observer = world.engineer
        for i in range(people):
            person = await make_person(world.server, f"joiner{i}")
            world.others[person.user_id] = person
            resp = await person.client.room_create(is_direct=True, invite=[bot])
            dm = resp.room_id  # type: ignore[union-attr]
            await person.wait_for(
                lambda e, dm=dm: e.room_id == dm and e.state_key == bot and e.membership == "join",
                20,
            )
            # Baseline first: the same DM, the same bot, the cheapest command.
            t0 = time.perf_counter()
            ping = await person.send(dm, "!ping")
            pong = await person.wait_reply(ping, bot)
            wall_ping.append(time.perf_counter() - t0)
            ping_ev = next(e for e in person.events if e.event_id == ping)
            server_ping.append((pong.ts - ping_ev.ts) / 1000)

            mark = len(observer.events)
            t0 = time.perf_counter()
            sent = await person.send(dm, "!join ACME")
            invite = await observer.wait_for(
                lambda e, who=person.user_id: (
                    e.room_id == world.support
                    and e.kind == "member"
                    and e.state_key == who
                    and e.membership == "invite"
                ),
                20,
                since=mark,
            )
            wall_join.append(time.perf_counter() - t0)
            join_ev = await person.wait_for(lambda e, s=sent: e.event_id == s, 5)
            server_join.append((invite.ts - join_ev.ts) / 1000)
    p50_join, p50_ping = statistics.median(server_join), statistics.median(server_ping)
    return {
        "people": people,
        "join_to_invite_server_ms": {
            "p50": round(p50_join * 1000, 1),
            "p90": round(pct(server_join, 0.9) * 1000, 1),
            "max": round(max(server_join) * 1000, 1),
        },
        "join_to_invite_wall_ms": {
            "p50": round(statistics.median(wall_join) * 1000, 1),
            "p90": round(pct(wall_join, 0.9) * 1000, 1),
        },
        "baseline_ping_server_ms": {"p50": round(p50_ping * 1000, 1)},
        "baseline_ping_wall_ms": {"p50": round(statistics.median(wall_ping) * 1000, 1)},
        "ratio_join_vs_ping_server_p50": round(p50_join / p50_ping, 2) if p50_ping else None,
        "ratio_join_vs_ping_wall_p50": round(
            statistics.median(wall_join) / statistics.median(wall_ping), 2
        ),
    }


# ---- 2. the daily check over many members -------------------------------------------------------


async def seed(store: Store, members: int, now: datetime) -> int:
    rng = random.Random(5)
    orgs = []
    for i in range(200):
        products = ["SUPPORT-iaas.base"] if i in (7, 11) else ["SUPPORT-standard"]
        orgs.append(
            (
                f"ORG{i:03d}",
                f"Org {i}",
                json.dumps(products),
                None,
                "[]",
                "[]",
                "[]",
                now.timestamp(),
            )
        )
    rows = []
    expected = 0
    for n in range(members):
        org = rng.randrange(200)
        expired = rng.random() < 0.05
        expires = (
            now - timedelta(days=1) if expired else now + timedelta(days=rng.randrange(1, 365))
        )
        expected += expired or org in (7, 11)
        rows.append(
            (
                f"@user{n}:example.org",
                f"user{n}@example.org",
                f"ORG{org:03d}",
                "granted",
                "bench",
                now.timestamp(),
                expires.timestamp(),
                now.timestamp(),
                None,
            )
        )
    async with store.transaction() as tx:
        await tx.executemany("INSERT INTO access_orgs VALUES (?, ?, ?, ?, ?, ?, ?, ?)", orgs)
        await tx.executemany(
            "INSERT INTO access_members(user_id, email, org_id, state, granted_by, granted_at, "
            "expires_at, updated_at, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return expected


async def daily_check(members: int, workdir: Path) -> dict[str, Any]:
    now = datetime.now(UTC)
    store = await Store.open(workdir / "check.sqlite3")
    await store.migrate("access", MIGRATIONS)
    expected = await seed(store, members, now)
    service = AccessService(store, AccessSettings(), lambda: now)

    # Baseline: the one read the check cannot avoid, all member rows once.
    t0 = time.perf_counter()
    rows = await store.fetchall("SELECT * FROM access_members")
    baseline = time.perf_counter() - t0
    assert len(rows) == members
    del rows

    before = rss_kib()
    tracemalloc.start()
    t0 = time.perf_counter()
    report = await service.check("bench")
    seconds = time.perf_counter() - t0
    _, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    after = rss_kib()
    assert len(report.changes) == expected, (len(report.changes), expected)
    left = await store.fetchval("SELECT COUNT(*) FROM access_members WHERE state='granted'")
    assert left == members - expected
    # A second pass finds nothing to do: the cost of a quiet day.
    t0 = time.perf_counter()
    quiet = await service.check("bench-quiet")
    quiet_seconds = time.perf_counter() - t0
    await store.close()
    return {
        "members": members,
        "grants_ended": len(report.changes),
        "check_seconds": round(seconds, 3),
        "quiet_check_seconds": round(quiet_seconds, 3),
        "quiet_changes": len(quiet.changes),
        "baseline_select_all_seconds": round(baseline, 3),
        "ratio_check_vs_select_all": round(seconds / baseline, 2) if baseline else None,
        "rss_kib_before": before.get("VmRSS"),
        "rss_kib_after": after.get("VmRSS"),
        "rss_peak_kib_process": after.get("VmHWM"),
        "python_heap_peak_kib_during_check": heap_peak // 1024,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-access-") as tmp_name:
        tmp = Path(tmp_name)
        check = await daily_check(args.members, tmp)  # first: RSS not yet grown by Synapse clients
        server = Synapse(tmp / "synapse", free_port())
        server.start()
        try:
            world = await build_world(server, tmp)
            try:
                joins = await join_latency(world, args.people)
            finally:
                for person in (world.admin, world.engineer, world.customer, *world.others.values()):
                    await person.stop()
        finally:
            server.stop()
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "join": joins,
        "daily_check": check,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--members", type=int, default=10_000)
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
