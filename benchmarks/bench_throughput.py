"""Does the bot keep up with the room? Handling rate and ping latency through a real Synapse (issue 10).

    .venv/bin/python -m benchmarks.bench_throughput [--senders 6] [--commands 60] [--pings 60]

One fresh Synapse, the bot as ``backchannel run`` (unencrypted rooms), and in
the same run:

- latency: ``!ping`` p50 of the bot against a bare matrix-nio echo bot (the
  one from bench_foundation), pings alternating between them while idle;
- throughput: ``--senders`` customers each send ``--commands`` ``!ping``s as
  fast as Synapse accepts them (one request in flight each), half as new
  top-level messages (each its own thread) and half inside one long thread of
  their own. Synapse's accepted rate is measured from its own timestamps on the
  commands; the bot's rate from the timestamps on its replies, over the same
  kind of span (first to last). ratio = replies/s / accepted commands/s: 1.0
  means it kept up. Lag (reply stamp - command stamp) in the first and last
  tenth shows whether a backlog grew. Every command must get exactly one reply.

Results: a table on stdout and ``benchmarks/results/throughput.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nio

from benchmarks.bench_foundation import (
    BOT_LIKE,
    latency_run,
    make_echo_world,
    start_bot,
    start_echo,
    summary,
    wait_joined,
    write_bot_config,
)
from harness.botproc import bot_messages, replies_to
from harness.matrix_helpers import World
from harness.synapse_server import Account, Synapse, free_port
from harness.world import build_world

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "throughput.json"
RATIO_TARGET = 1.0
LATENCY_TARGET = 1.10


async def sender_client(server: Synapse, world: World, n: int) -> tuple[Account, nio.AsyncClient]:
    account = server.register(f"loadcustomer{n}")
    resp = server.api(
        "POST",
        f"/_matrix/client/v3/rooms/{world.support}/invite",
        world.admin.account.access_token,
        {"user_id": account.user_id},
    )
    assert "errcode" not in resp, resp
    client = nio.AsyncClient(server.url, account.user_id, device_id=account.device_id)
    client.restore_login(account.user_id, account.device_id, account.access_token)
    joined = await client.join(world.support)
    assert isinstance(joined, nio.JoinResponse), joined
    return account, client


async def blast(client: nio.AsyncClient, room: str, commands: int) -> list[str]:
    """``commands`` pings, one in flight: odd ones top-level, even ones in this sender's thread."""
    root_resp = await client.room_send(
        room, "m.room.message", {"msgtype": "m.text", "body": "!ping"}
    )
    assert isinstance(root_resp, nio.RoomSendResponse), root_resp
    root = root_resp.event_id
    asks = [root]
    for i in range(commands - 1):
        content: dict[str, Any] = {"msgtype": "m.text", "body": "!ping"}
        if i % 2 == 0:
            content["m.relates_to"] = {
                "rel_type": "m.thread",
                "event_id": root,
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": root},
            }
        resp = await client.room_send(room, "m.room.message", content)
        assert isinstance(resp, nio.RoomSendResponse), resp
        asks.append(resp.event_id)
    return asks


def event_ts(server: Synapse, token: str, room: str, event_id: str) -> int:
    return int(
        server.api("GET", f"/_matrix/client/v3/rooms/{room}/event/{event_id}", token)[
            "origin_server_ts"
        ]
    )


async def throughput_run(
    server: Synapse, world: World, senders: int, commands: int
) -> dict[str, Any]:
    clients = [await sender_client(server, world, n) for n in range(senders)]
    token = world.admin.account.access_token
    try:
        started = time.perf_counter()
        per_sender = await asyncio.gather(*(blast(c, world.support, commands) for _, c in clients))
        send_wall = time.perf_counter() - started
        asks = [a for s in per_sender for a in s]
        # Wait for the replies (or give up after a minute of no progress).
        deadline = time.monotonic() + 120
        msgs: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            msgs = await asyncio.to_thread(
                bot_messages, server, token, world.support, world.bot.user_id
            )
            answered = sum(1 for a in asks if replies_to(msgs, a))
            if answered == len(asks):
                break
            await asyncio.sleep(0.5)
        drain_wall = time.perf_counter() - started
    finally:
        for _, c in clients:
            await c.close()
    ask_ts = {a: await asyncio.to_thread(event_ts, server, token, world.support, a) for a in asks}
    reply_ts: dict[str, list[int]] = {a: [] for a in asks}
    for m in msgs:
        rel = (m.get("content") or {}).get("m.relates_to") or {}
        target = (rel.get("m.in_reply_to") or {}).get("event_id")
        if target in reply_ts:
            reply_ts[target].append(int(m["origin_server_ts"]))
    answered = [a for a in asks if reply_ts[a]]
    dupes = sum(max(0, len(v) - 1) for v in reply_ts.values())
    a_times = sorted(ask_ts.values())
    r_times = sorted(min(v) for v in reply_ts.values() if v)
    send_rate = (len(a_times) - 1) / max(1e-3, (a_times[-1] - a_times[0]) / 1000)
    reply_rate = (
        (len(r_times) - 1) / max(1e-3, (r_times[-1] - r_times[0]) / 1000)
        if len(r_times) > 1
        else 0.0
    )
    ordered = sorted(answered, key=lambda a: ask_ts[a])
    lags = [min(reply_ts[a]) - ask_ts[a] for a in ordered]
    tenth = max(1, len(lags) // 10)
    return {
        "senders": senders,
        "commands": len(asks),
        "answered": len(answered),
        "missing": len(asks) - len(answered),
        "duplicates": dupes,
        "synapse_accepted_per_s": round(send_rate, 1),
        "bot_replies_per_s": round(reply_rate, 1),
        "ratio": round(reply_rate / send_rate, 3) if send_rate else 0.0,
        "lag_ms_first_tenth_p50": statistics.median(lags[:tenth]) if lags else None,
        "lag_ms_last_tenth_p50": statistics.median(lags[-tenth:]) if lags else None,
        "lag_ms_max": max(lags) if lags else None,
        "send_wall_s": round(send_wall, 2),
        "until_all_answered_s": round(drain_wall, 2),
        "target_ratio_min": RATIO_TARGET,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    server = Synapse(tmp / "synapse", free_port())
    server.start()
    bot = echo = None
    world: World | None = None
    try:
        world = await build_world(server, tmp, encrypted=False)
        echo_account, echo_room = await make_echo_world(world, 0)
        await world.engineer.stop()
        web_port = free_port()
        config_path = tmp / "bot.toml"
        write_bot_config(world, world.data_dir, web_port, config_path)
        bot, _ = await start_bot(config_path, web_port, tmp / "bot.log")
        echo, _ = await start_echo(server, echo_account, BOT_LIKE)
        await wait_joined(
            server, world.customer.account.access_token, world.support, world.bot.user_id
        )
        targets = {
            "bot": (world.support, world.bot.user_id),
            "echo": (echo_room, echo_account.user_id),
        }
        samples = await latency_run(world.customer, targets, args.pings, 1, 5)
        await echo.stop()
        print("latency done; throughput run", file=sys.stderr)
        tput = await throughput_run(server, world, args.senders, args.commands)
    finally:
        for p in (bot, echo):
            if p is not None:
                with contextlib.suppress(Exception):
                    await p.stop()
        if world is not None:
            for person in (world.admin, world.customer):
                with contextlib.suppress(Exception):
                    await person.stop()
        server.stop()
    bot_lat, echo_lat = summary(samples["bot"]), summary(samples["echo"])
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_1m_start_end": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        },
        "latency": {
            "pings_each": args.pings,
            "bot_p50_ms": bot_lat["p50_ms"],
            "echo_p50_ms": echo_lat["p50_ms"],
            "ratio_p50": round(bot_lat["p50_ms"] / echo_lat["p50_ms"], 3),
            "paired_median_ratio": round(
                statistics.median(
                    b.total_ms / e.total_ms
                    for b, e in zip(samples["bot"], samples["echo"], strict=True)
                ),
                3,
            ),
            "target_ratio_max": LATENCY_TARGET,
        },
        "throughput": tput,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_throughput")
    parser.add_argument("--senders", type=int, default=6)
    parser.add_argument("--commands", type=int, default=60, help="per sender")
    parser.add_argument("--pings", type=int, default=60, help="latency pings per responder")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    lat, tp = result["latency"], result["throughput"]
    ok = lambda good: "ok" if good else "MISSED"  # noqa: E731
    rows = [
        ("ping p50 bot / echo", f"{lat['bot_p50_ms']:.1f} / {lat['echo_p50_ms']:.1f} ms", ""),
        (
            "ping ratio p50 (target <= 1.10)",
            f"{lat['ratio_p50']:.3f}",
            ok(lat["ratio_p50"] <= LATENCY_TARGET),
        ),
        ("ping paired median ratio", f"{lat['paired_median_ratio']:.3f}", ""),
        ("commands (senders)", f"{tp['commands']} ({tp['senders']})", ""),
        ("Synapse accepted commands/s", f"{tp['synapse_accepted_per_s']:.1f}", ""),
        ("bot replies/s", f"{tp['bot_replies_per_s']:.1f}", ""),
        ("ratio (target >= 1.0)", f"{tp['ratio']:.3f}", ok(tp["ratio"] >= RATIO_TARGET)),
        (
            "lag p50 first / last tenth",
            f"{tp['lag_ms_first_tenth_p50']} / {tp['lag_ms_last_tenth_p50']} ms",
            "",
        ),
        ("lag max", f"{tp['lag_ms_max']} ms", ""),
        (
            "missing / duplicate replies",
            f"{tp['missing']} / {tp['duplicates']}",
            ok(tp["missing"] == tp["duplicates"] == 0),
        ),
        ("load avg start/end", "/".join(map(str, result["machine"]["loadavg_1m_start_end"])), ""),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, verdict in rows:
        print(f"{name:<{width}}  {value:>24}  {verdict}")
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
