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
  commands, the bot's from the timestamps on its replies (see ``analyse``):
  over the whole run (first to last of each) and in the steady state (both
  counted in one common window, the middle 60 % of the send span). ratio =
  replies/s / accepted commands/s: 1.0 means it kept up. Whether a backlog
  grew: the lag's slope (reply stamp - command stamp, per second of run), the
  backlog (accepted, not yet answered) at the window's start and end, and the
  bot's own queue depth (``backchannel_intake_pending_events``, sampled from
  /metrics every second). Every command must get exactly one reply.

Also in the same run, to tell the bot's share from the homeserver's: CPU of the
bot and of Synapse while the customers send (/proc), the customers' own send
round trip, and how long Synapse itself took per send, the bot's replies
against the customers' commands (Synapse's request log, which the run turns
on). Synapse runs concurrent requests interleaved, so a send that costs it more
CPU also takes it longer: with one reply in flight per sender (a sender's
commands are handled in order), the bot can keep up only if its replies cost
Synapse no more than the commands do.

The baseline for the rate: after the bot, the same customers blast the same
pings into a room of their own answered by a bare matrix-nio bot that keeps the
bot's ordering rule (one sender's commands one after another, senders in
parallel) and answers like the bot (same content, in the command's thread),
with Synapse to itself as the bot had (``--no-baseline`` skips it).

``--pyspy FILE`` samples the bot with py-spy during the throughput part
(``PY_SPY`` names the executable), for finding where its time goes.

Results: a table on stdout and ``benchmarks/results/throughput.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import nio
import yaml

from benchmarks.bench_foundation import (
    BOT_LIKE,
    Proc,
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
PENDING_METRIC = "backchannel_intake_pending_events"


async def make_senders(
    server: Synapse, world: World, count: int, rooms: list[str]
) -> list[nio.AsyncClient]:
    """``count`` load customers, each joined to every room in ``rooms``."""
    clients = []
    for n in range(count):
        account = server.register(f"loadcustomer{n}")
        client = nio.AsyncClient(server.url, account.user_id, device_id=account.device_id)
        client.restore_login(account.user_id, account.device_id, account.access_token)
        for room in rooms:
            resp = server.api(
                "POST",
                f"/_matrix/client/v3/rooms/{room}/invite",
                world.admin.account.access_token,
                {"user_id": account.user_id},
            )
            assert "errcode" not in resp, resp
            joined = await client.join(room)
            assert isinstance(joined, nio.JoinResponse), joined
        clients.append(client)
    return clients


# The baseline for the handling rate: a bare matrix-nio bot under the bot's own ordering
# rule (one sender's commands answered one after another, senders in parallel), answering
# like the bot does (same content, in the command's thread). Run with ``python -c``.
ORDERED_ECHO_BOT = """
import asyncio, json, os, sys
import nio

async def main(homeserver, user_id, device_id):
    config = nio.AsyncClientConfig(encryption_enabled=False)
    client = nio.AsyncClient(homeserver, user_id, device_id=device_id, config=config)
    client.restore_login(user_id, device_id, os.environ["ECHO_TOKEN"])
    await client.sync(timeout=0, full_state=True)
    content = json.loads(os.environ["ECHO_CONTENT"])
    queues = {}

    async def answer(queue):
        while True:
            room_id, event = await queue.get()
            rel = event.source["content"].get("m.relates_to") or {}
            root = rel.get("event_id") if rel.get("rel_type") == "m.thread" else event.event_id
            reply = {"rel_type": "m.thread", "event_id": root, "is_falling_back": True,
                     "m.in_reply_to": {"event_id": event.event_id}}
            await client.room_send(room_id, "m.room.message", {**content, "m.relates_to": reply})

    async def on_message(room, event):
        if event.sender != client.user_id and event.body == "!ping":
            if event.sender not in queues:
                queues[event.sender] = asyncio.Queue()
                asyncio.create_task(answer(queues[event.sender]))
            queues[event.sender].put_nowait((room.room_id, event))

    client.add_event_callback(on_message, nio.RoomMessageText)
    print("ready", flush=True)
    await client.sync_forever(timeout=30000)

asyncio.run(main(*sys.argv[1:4]))
"""


async def start_ordered_echo(server: Synapse, account: Account) -> Proc:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BACKCHANNEL_")},
        "ECHO_TOKEN": account.access_token,
        "ECHO_CONTENT": json.dumps(BOT_LIKE),
    }
    started = time.perf_counter()
    popen = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        ORDERED_ECHO_BOT,
        server.url,
        account.user_id,
        account.device_id,
        stdout=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    assert popen.stdout is not None
    line = await asyncio.wait_for(popen.stdout.readline(), 60)
    if line.strip() != b"ready":
        raise RuntimeError(f"ordered echo bot did not start: {line!r}")
    return Proc("ordered-echo", popen, started)


async def blast(client: nio.AsyncClient, room: str, commands: int, rtts: list[float]) -> list[str]:
    """``commands`` pings, one in flight: odd ones top-level, even ones in this sender's thread.

    ``rtts`` gets each send's round trip as the customer saw it (seconds)."""
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
        sent = time.perf_counter()
        resp = await client.room_send(room, "m.room.message", content)
        rtts.append(time.perf_counter() - sent)
        assert isinstance(resp, nio.RoomSendResponse), resp
        asks.append(resp.event_id)
    return asks


def event_ts(server: Synapse, token: str, room: str, event_id: str) -> int:
    return int(
        server.api("GET", f"/_matrix/client/v3/rooms/{room}/event/{event_id}", token)[
            "origin_server_ts"
        ]
    )


def _slope(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of ys over xs (None with fewer than two distinct xs)."""
    if len(xs) < 2 or len(set(xs)) < 2:
        return None
    return statistics.linear_regression(xs, ys).slope


def analyse(ask_ts: dict[str, int], reply_ts: dict[str, list[int]]) -> dict[str, Any]:
    """Rates, lag trend and backlog from the server's own timestamps (ms).

    Two views of the same run, both reported:

    - whole run: accepted rate over first to last command, reply rate over first
      to last reply. A bot that answers every command with the same lag scores
      1.0, but the first reply comes quickly (the bot is idle) and later ones
      with the steady lag, so the reply span is longer by the lag's rise and the
      ratio reads a little under 1.0 even when nothing piles up.
    - steady state: commands and replies stamped inside one common window, the
      middle 60 % of the send span (the first and last 20 % are the ramp-up and
      the tail). With a constant lag both counts are the same.

    Whether a backlog grows is read from the lag's slope (ms of extra lag per
    second of run) and from the backlog itself (accepted commands not yet
    answered, sampled every 100 ms), at the window's start and end.
    """
    a_times = sorted(ask_ts.values())
    first = {a: min(v) for a, v in reply_ts.items() if v}
    r_times = sorted(first.values())
    out: dict[str, Any] = {}
    span_a = (a_times[-1] - a_times[0]) / 1000 if len(a_times) > 1 else 0.0
    span_r = (r_times[-1] - r_times[0]) / 1000 if len(r_times) > 1 else 0.0
    send_rate = (len(a_times) - 1) / span_a if span_a else 0.0
    reply_rate = (len(r_times) - 1) / span_r if span_r else 0.0
    out["whole_run"] = {
        "synapse_accepted_per_s": round(send_rate, 2),
        "bot_replies_per_s": round(reply_rate, 2),
        "ratio": round(reply_rate / send_rate, 3) if send_rate else 0.0,
    }
    w0 = a_times[0] + 0.2 * (a_times[-1] - a_times[0])
    w1 = a_times[0] + 0.8 * (a_times[-1] - a_times[0])
    secs = (w1 - w0) / 1000
    asks_in = sum(1 for t in a_times if w0 <= t < w1)
    replies_in = sum(1 for t in r_times if w0 <= t < w1)
    out["steady_state"] = {
        "window_s": round(secs, 2),
        "synapse_accepted_per_s": round(asks_in / secs, 2) if secs else 0.0,
        "bot_replies_per_s": round(replies_in / secs, 2) if secs else 0.0,
        "ratio": round(replies_in / asks_in, 3) if asks_in else 0.0,
    }
    ordered = sorted(first, key=lambda a: ask_ts[a])
    xs = [(ask_ts[a] - a_times[0]) / 1000 for a in ordered]
    lags = [float(first[a] - ask_ts[a]) for a in ordered]
    tenth = max(1, len(lags) // 10)
    mid = [(x, lag) for x, lag, a in zip(xs, lags, ordered, strict=True) if w0 <= ask_ts[a] < w1]
    slope_all, slope_mid = _slope(xs, lags), _slope([m[0] for m in mid], [m[1] for m in mid])
    out["lag"] = {
        "p50_ms": statistics.median(lags) if lags else None,
        "first_tenth_p50_ms": statistics.median(lags[:tenth]) if lags else None,
        "last_tenth_p50_ms": statistics.median(lags[-tenth:]) if lags else None,
        "max_ms": max(lags) if lags else None,
        "deciles_p50_ms": [
            statistics.median(lags[i * tenth : (i + 1) * tenth]) for i in range(len(lags) // tenth)
        ][:10],
        "slope_ms_per_s_whole": round(slope_all, 1) if slope_all is not None else None,
        "slope_ms_per_s_steady": round(slope_mid, 1) if slope_mid is not None else None,
    }
    grid = list(
        range(int(a_times[0]), int(max(a_times[-1], r_times[-1] if r_times else 0)) + 1, 100)
    )
    backlog = [bisect.bisect_right(a_times, t) - bisect.bisect_right(r_times, t) for t in grid]
    mid_b = [(t, b) for t, b in zip(grid, backlog, strict=True) if w0 <= t < w1]
    b_slope = _slope([(t - a_times[0]) / 1000 for t, _ in mid_b], [float(b) for _, b in mid_b])
    out["backlog"] = {
        "at_window_start": mid_b[0][1] if mid_b else None,
        "at_window_end": mid_b[-1][1] if mid_b else None,
        "mean_in_window": round(statistics.fmean(b for _, b in mid_b), 2) if mid_b else None,
        "max": max(backlog) if backlog else None,
        "slope_per_s_steady": round(b_slope, 3) if b_slope is not None else None,
    }
    return out


def log_requests(server: Synapse, path: Path) -> None:
    """Restart Synapse with its request log (one line per request: user, time taken) at ``path``."""
    server.stop()
    config_path = server.dir / "localhost.log.config"
    config = yaml.safe_load(config_path.read_text())
    config["handlers"]["file"]["filename"] = str(path)
    config["root"]["handlers"] = ["file"]
    config.setdefault("loggers", {})["synapse.access.http"] = {"level": "INFO"}
    config_path.write_text(yaml.safe_dump(config))
    server.start()


ACCESS = re.compile(
    r"^(\S+ \S+) .*\{(@[^:}]+):[^}]*\} Processed request: ([\d.]+)sec/.*\"PUT \S+/send/"
)


def synapse_send_times(path: Path, start: float, end: float, responder: str) -> dict[str, Any]:
    """Time Synapse took per send (its own request log), the bot's against the customers',
    for sends it finished between ``start`` and ``end`` (unix seconds)."""
    times: dict[str, list[float]] = {"bot": [], "customers": []}
    for line in path.read_text(errors="replace").splitlines():
        m = ACCESS.match(line)
        if not m:
            continue
        stamp = time.mktime(time.strptime(m.group(1).split(",")[0], "%Y-%m-%d %H:%M:%S"))
        if not start - 1 <= stamp <= end + 1:
            continue
        who = m.group(2)
        if who == responder:
            times["bot"].append(float(m.group(3)))
        elif who.startswith("@loadcustomer"):
            times["customers"].append(float(m.group(3)))
    out: dict[str, Any] = {
        f"{k}_p50_ms": round(statistics.median(v) * 1000, 1) if v else None
        for k, v in times.items()
    }
    out.update({f"{k}_n": len(v) for k, v in times.items()})
    if times["bot"] and times["customers"]:
        out["bot_over_customers_p50"] = round(
            statistics.median(times["bot"]) / statistics.median(times["customers"]), 3
        )
    return out


async def sample_pending(port: int, stop: asyncio.Event, into: list[tuple[float, float]]) -> None:
    """The bot's own queue depth (events received, not yet handled) every second, if exposed.

    Not more often: rendering /metrics is a visible share of the bot's own CPU."""
    started = time.perf_counter()
    while not stop.is_set():
        try:
            text = await asyncio.to_thread(_metrics_text, port)
        except OSError:
            text = ""
        for line in text.splitlines():
            if line.startswith(PENDING_METRIC + " "):
                into.append((round(time.perf_counter() - started, 2), float(line.split()[1])))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


def _metrics_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text: str = resp.read().decode()
        return text


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (from /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def throughput_run(
    server: Synapse,
    world: World,
    clients: list[nio.AsyncClient],
    room: str,
    responder: str,
    responder_pid: int,
    commands: int,
    access_log: Path,
    web_port: int | None = None,
) -> dict[str, Any]:
    """Every client blasts ``commands`` pings into ``room``; ``responder`` answers them."""
    cpu0 = {"bot": cpu_seconds(responder_pid), "synapse": cpu_seconds(server.proc_pid)}
    token = world.admin.account.access_token
    pending: list[tuple[float, float]] = []
    customer_rtts: list[float] = []
    stop_sampling = asyncio.Event()
    sampler = asyncio.create_task(
        sample_pending(web_port, stop_sampling, pending) if web_port else stop_sampling.wait()
    )
    try:
        wall_start = time.time()
        started = time.perf_counter()
        per_sender = await asyncio.gather(
            *(blast(c, room, commands, customer_rtts) for c in clients)
        )
        send_wall = time.perf_counter() - started
        wall_end = time.time()
        cpu1 = {"bot": cpu_seconds(responder_pid), "synapse": cpu_seconds(server.proc_pid)}
        asks = [a for s in per_sender for a in s]
        # Wait for the replies (or give up after a minute of no progress).
        deadline = time.monotonic() + 120
        msgs: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            msgs = await asyncio.to_thread(bot_messages, server, token, room, responder)
            answered = sum(1 for a in asks if replies_to(msgs, a))
            if answered == len(asks):
                break
            await asyncio.sleep(0.5)
        drain_wall = time.perf_counter() - started
    finally:
        stop_sampling.set()
        await sampler
    ask_ts = {a: await asyncio.to_thread(event_ts, server, token, room, a) for a in asks}
    reply_ts: dict[str, list[int]] = {a: [] for a in asks}
    for m in msgs:
        rel = (m.get("content") or {}).get("m.relates_to") or {}
        target = (rel.get("m.in_reply_to") or {}).get("event_id")
        if target in reply_ts:
            reply_ts[target].append(int(m["origin_server_ts"]))
    answered_ids = [a for a in asks if reply_ts[a]]
    dupes = sum(max(0, len(v) - 1) for v in reply_ts.values())
    figures = analyse(ask_ts, reply_ts)
    whole = figures["whole_run"]
    in_send = [p for t, p in pending if t <= send_wall]
    return {
        "senders": len(clients),
        "commands": len(asks),
        "answered": len(answered_ids),
        "missing": len(asks) - len(answered_ids),
        "duplicates": dupes,
        # The whole-run figures under their old names, so older results compare.
        "synapse_accepted_per_s": round(whole["synapse_accepted_per_s"], 1),
        "bot_replies_per_s": round(whole["bot_replies_per_s"], 1),
        "ratio": whole["ratio"],
        "lag_ms_first_tenth_p50": figures["lag"]["first_tenth_p50_ms"],
        "lag_ms_last_tenth_p50": figures["lag"]["last_tenth_p50_ms"],
        "lag_ms_max": figures["lag"]["max_ms"],
        **figures,
        "bot_pending_events": {
            "samples": len(pending),
            "max": max((p for _, p in pending), default=None),
            "mean_while_sending": round(statistics.fmean(in_send), 2) if in_send else None,
            "last_while_sending": in_send[-1] if in_send else None,
        },
        # While the customers were sending: share of one CPU, and CPU ms per command.
        "cpu_while_sending": {
            name: {
                "cpu_share": round((cpu1[name] - cpu0[name]) / send_wall, 3),
                "ms_per_command": round((cpu1[name] - cpu0[name]) * 1000 / len(asks), 2),
            }
            for name in cpu0
        },
        # Inside Synapse (its request log): how long a send of the bot took against a
        # customer's, over the sending part of the run.
        "synapse_send_time": synapse_send_times(
            access_log, wall_start, wall_end, responder.split(":")[0]
        ),
        "customer_send_rtt_ms_p50": round(statistics.median(customer_rtts) * 1000, 1),
        "send_wall_s": round(send_wall, 2),
        "until_all_answered_s": round(drain_wall, 2),
        "target_ratio_min": RATIO_TARGET,
    }


async def start_pyspy(out: str, pid: int) -> asyncio.subprocess.Process:
    """Sample the bot with py-spy (installed by whoever profiles; not a dependency)."""
    exe = os.environ.get("PY_SPY", "py-spy")
    spy = await asyncio.create_subprocess_exec(
        exe,
        "record",
        "--pid",
        str(pid),
        "--rate",
        "200",
        "--format",
        "raw",
        "--output",
        out,
        stdout=asyncio.subprocess.DEVNULL,
    )
    await asyncio.sleep(1)  # attached before the load starts
    return spy


async def run(args: argparse.Namespace) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    server = Synapse(tmp / "synapse", free_port())
    server.start()
    access_log = tmp / "synapse-access.log"
    log_requests(server, access_log)
    bot = echo = ordered = None
    world: World | None = None
    clients: list[nio.AsyncClient] = []
    baseline: dict[str, Any] | None = None
    try:
        world = await build_world(server, tmp, encrypted=False)
        echo_account, echo_room = await make_echo_world(world, 0)
        ordered_account, ordered_room = await make_echo_world(world, 1)
        await world.engineer.stop()
        clients = await make_senders(server, world, args.senders, [world.support, ordered_room])
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
        spy = await start_pyspy(args.pyspy, bot.popen.pid) if args.pyspy else None
        try:
            tput = await throughput_run(
                server,
                world,
                clients,
                world.support,
                world.bot.user_id,
                bot.popen.pid,
                args.commands,
                access_log,
                web_port,
            )
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                await spy.wait()
        if not args.no_baseline:
            await bot.stop()  # the baseline has Synapse to itself, as the bot had
            print("throughput run of the ordered echo bot", file=sys.stderr)
            ordered = await start_ordered_echo(server, ordered_account)
            baseline = await throughput_run(
                server,
                world,
                clients,
                ordered_room,
                ordered_account.user_id,
                ordered.popen.pid,
                args.commands,
                access_log,
            )
    finally:
        for c in clients:
            await c.close()
        for p in (bot, echo, ordered):
            if p is not None:
                with contextlib.suppress(Exception):
                    await p.stop()
        if world is not None:
            for person in (world.admin, world.customer):
                with contextlib.suppress(Exception):
                    await person.stop()
        server.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
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
        "throughput_ordered_echo_bot": baseline,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_throughput")
    parser.add_argument("--senders", type=int, default=6)
    parser.add_argument("--commands", type=int, default=60, help="per sender")
    parser.add_argument("--pings", type=int, default=60, help="latency pings per responder")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the ordered echo bot's throughput run"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (bot log)")
    parser.add_argument(
        "--pyspy", metavar="FILE", help="profile the bot under load with py-spy (raw format)"
    )
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    lat, tp = result["latency"], result["throughput"]
    steady, lag, backlog = tp["steady_state"], tp["lag"], tp["backlog"]
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
        ("ratio whole run (target >= 1.0)", f"{tp['ratio']:.3f}", ok(tp["ratio"] >= RATIO_TARGET)),
        (
            "steady state accepted / replies per s",
            f"{steady['synapse_accepted_per_s']:.1f} / {steady['bot_replies_per_s']:.1f}",
            "",
        ),
        (
            "ratio steady state (target >= 1.0)",
            f"{steady['ratio']:.3f}",
            ok(steady["ratio"] >= RATIO_TARGET),
        ),
        (
            "lag p50 first / last tenth",
            f"{tp['lag_ms_first_tenth_p50']} / {tp['lag_ms_last_tenth_p50']} ms",
            "",
        ),
        (
            "lag slope whole / steady",
            f"{lag['slope_ms_per_s_whole']} / {lag['slope_ms_per_s_steady']} ms/s",
            "",
        ),
        ("lag p50 / max", f"{lag['p50_ms']} / {lag['max_ms']} ms", ""),
        (
            "backlog window start / end (slope)",
            f"{backlog['at_window_start']} / {backlog['at_window_end']} "
            f"({backlog['slope_per_s_steady']}/s)",
            "",
        ),
        (
            "bot pending events mean / max",
            f"{tp['bot_pending_events']['mean_while_sending']} / {tp['bot_pending_events']['max']}",
            "",
        ),
        (
            "missing / duplicate replies",
            f"{tp['missing']} / {tp['duplicates']}",
            ok(tp["missing"] == tp["duplicates"] == 0),
        ),
        (
            "CPU share while sending bot / synapse",
            f"{tp['cpu_while_sending']['bot']['cpu_share']} / "
            f"{tp['cpu_while_sending']['synapse']['cpu_share']}",
            "",
        ),
        (
            "Synapse time per send bot / customer p50",
            f"{tp['synapse_send_time']['bot_p50_ms']} / "
            f"{tp['synapse_send_time']['customers_p50_ms']} ms",
            "",
        ),
        *(
            [
                (
                    "ordered echo bot: ratio whole / steady",
                    f"{base['ratio']:.3f} / {base['steady_state']['ratio']:.3f}",
                    "",
                ),
                (
                    "ordered echo bot: lag slope steady",
                    f"{base['lag']['slope_ms_per_s_steady']} ms/s",
                    "",
                ),
            ]
            if (base := result["throughput_ordered_echo_bot"])
            else []
        ),
        ("load avg start/end", "/".join(map(str, result["machine"]["loadavg_1m_start_end"])), ""),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, verdict in rows:
        print(f"{name:<{width}}  {value:>24}  {verdict}")
    if not args.no_write:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
