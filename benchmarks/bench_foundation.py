"""Foundation benchmark: reply latency vs a bare nio echo bot, router capacity vs Synapse, RSS, start time.

    .venv/bin/python -m benchmarks.bench_foundation [--pings 200] [--block 1]

Everything runs against one fresh Synapse started here, and every figure is a
ratio against a baseline measured in the same run, so the machine's speed
cancels out:

- reply latency: a customer sends ``!ping`` and waits (through their own
  /sync) for the answer in its thread. The bot runs as ``backchannel run`` in
  a subprocess; the baseline is a dozen-line matrix-nio echo bot, also a
  subprocess, in an identical room. Both run at the same time; pings alternate
  between them (A B B A ...) so drift in Synapse or the machine hits both
  equally. Rooms are unencrypted and the bot runs with ``encryption = false``.
  Each ping is also split by the server's timestamps into legs (to the server,
  responder, back to the customer), and each responder's CPU per ping is read
  from /proc, to tell the bot's own cost from the homeserver's.
- router capacity: events/s through ``Router.dispatch`` with no-op handlers
  and a stub gateway (this part only: it measures the router, not the network),
  against the messages/s one client gets into one Synapse room with 8 in flight.
- RSS of the bot process after the latency run, and start-to-ready time
  (process start until ``/readyz`` answers 200).

Results: a table on stdout and ``benchmarks/results/foundation.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, cast

import nio

from bot import intake as intake_mod
from bot.config import Config
from bot.context import EventContext, Services
from bot.events import Event, Kind, parse_event
from bot.intake import Intake
from bot.matrix import MatrixGateway
from bot.metrics import Metrics
from bot.registry import Registry, command, passive
from bot.roles import ANYWHERE, Roles
from bot.router import Router
from bot.store import Store
from harness.matrix_helpers import Person, World
from harness.synapse_server import Account, Synapse, free_port
from harness.world import build_world, create_room

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "foundation.json"
BACKCHANNEL = Path(sys.executable).parent / "backchannel"
LATENCY_TARGET = 1.10
CAPACITY_TARGET = 20.0


# ---- the baseline: a bare matrix-nio echo bot (runs as a subprocess) ---------------


# Run with ``python -c`` in a fresh interpreter, so its RSS and start time are those
# of matrix-nio alone (importing this module would drag the whole bot in).
ECHO_BOT = """
import asyncio, json, os, sys
import nio

async def main(homeserver, user_id, device_id):
    config = nio.AsyncClientConfig(encryption_enabled=False)  # plain rooms, as the bot here
    client = nio.AsyncClient(homeserver, user_id, device_id=device_id, config=config)
    client.restore_login(user_id, device_id, os.environ["ECHO_TOKEN"])
    await client.sync(timeout=0, full_state=True)  # history is not ours to answer

    async def on_message(room, event):
        if event.sender != client.user_id and event.body == "!ping":
            rel = {"rel_type": "m.thread", "event_id": event.event_id, "is_falling_back": True,
                   "m.in_reply_to": {"event_id": event.event_id}}
            content = {**json.loads(os.environ["ECHO_CONTENT"]), "m.relates_to": rel}
            await client.room_send(room.room_id, "m.room.message", content)

    client.add_event_callback(on_message, nio.RoomMessageText)
    print("ready", flush=True)
    await client.sync_forever(timeout=30000)

asyncio.run(main(*sys.argv[1:4]))
"""


# ---- subprocesses -------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    popen: asyncio.subprocess.Process
    started: float  # perf_counter just before the process was created

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def cpu_seconds(self) -> float:
        """User + system CPU time so far (from /proc/PID/stat)."""
        stat = Path(f"/proc/{self.popen.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def stop(self) -> None:
        if self.popen.returncode is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.popen.wait(), 30)
            except TimeoutError:
                self.popen.kill()
                await self.popen.wait()


def _clean_env() -> dict[str, str]:
    # A developer's BACKCHANNEL_* overrides must not leak into the measured bot.
    return {k: v for k, v in os.environ.items() if not k.startswith("BACKCHANNEL_")}


def write_bot_config(world: World, data_dir: Path, web_port: int, path: Path) -> None:
    q = json.dumps  # JSON strings are valid TOML basic strings
    path.write_text(
        f"""
[matrix]
homeserver = {q(world.server.url)}
user_id = {q(world.bot.user_id)}
password = {q(world.bot.password)}
encryption = false
sync_timeout_ms = 30000

[rooms]
support = {q(world.support)}
staff = {q(world.staff)}

[roles]
admins = [{q(world.admin.user_id)}]
engineers = [{q(world.engineer.user_id)}]

[bot]
data_dir = {q(str(data_dir))}
log_level = "INFO"

[web]
enabled = true
listen = "127.0.0.1:{web_port}"

# The customer pings ~10 times a second on purpose: keep flood protection on (it is
# part of the hot path being measured) but with a threshold the run cannot reach.
[moderation.flood]
max_messages = 1000000
max_lines = 1000000
"""
    )


def _handler_seconds(port: int) -> dict[str, float]:
    """The bot's own view: events handled and mean time in the router (the reply's send included)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    values = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("backchannel_handler_seconds_sum", "backchannel_handler_seconds_count"):
            values[name.rsplit("_", 1)[1]] = float(value)
    count = values.get("count", 0.0)
    mean_ms = values.get("sum", 0.0) / count * 1000 if count else 0.0
    return {"handled": count, "handler_mean_ms": round(mean_ms, 2)}


def _readyz(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


async def start_bot(config_path: Path, web_port: int, log_path: Path) -> tuple[Proc, float]:
    """Start ``backchannel run``; returns it and the seconds until /readyz said 200."""
    log = log_path.open("ab")
    started = time.perf_counter()
    popen = await asyncio.create_subprocess_exec(
        *[str(BACKCHANNEL), "run", "--config", str(config_path)],
        stdout=log,
        stderr=asyncio.subprocess.STDOUT,
        env=_clean_env(),
        cwd=ROOT,
    )
    log.close()
    proc = Proc("bot", popen, started)
    deadline = started + 120
    while time.perf_counter() < deadline:
        if popen.returncode is not None:
            raise RuntimeError(f"bot exited with {popen.returncode}; see {log_path}")
        if await asyncio.to_thread(_readyz, web_port) == 200:
            return proc, time.perf_counter() - started
        await asyncio.sleep(0.01)
    await proc.stop()
    raise RuntimeError(f"bot not ready within 120 s; see {log_path}")


PONG = {"msgtype": "m.notice", "body": "pong"}
# What the bot's !ping answer carries (HTML and an empty m.mentions, which the bot
# always sets so nothing in a reply can ping anyone): with --echo-like-bot the echo
# bot sends this, so the ratio compares the code paths, not the events' contents.
BOT_LIKE = {
    "msgtype": "m.notice",
    "body": "Pong! Your message reached me 12 ms after the server stamped it.",
    "format": "org.matrix.custom.html",
    "formatted_body": "Pong! Your message reached me 12 ms after the server stamped it.",
    "m.mentions": {},
}


async def start_echo(
    server: Synapse, account: Account, content: dict[str, Any]
) -> tuple[Proc, float]:
    env = {**_clean_env(), "ECHO_TOKEN": account.access_token, "ECHO_CONTENT": json.dumps(content)}
    started = time.perf_counter()
    popen = await asyncio.create_subprocess_exec(
        *[
            sys.executable,
            "-c",
            ECHO_BOT,
            server.url,
            account.user_id,
            account.device_id,
        ],
        stdout=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    assert popen.stdout is not None
    line = await asyncio.wait_for(popen.stdout.readline(), 60)
    if line.strip() != b"ready":
        raise RuntimeError(f"echo bot did not start: {line!r}")
    return Proc("echo", popen, started), time.perf_counter() - started


# ---- reply latency --------------------------------------------------------------------


@dataclass
class Ping:
    total_ms: float
    # Legs split by the server's timestamps (same machine, same clock): customer
    # send until Synapse stamped the ask; ask stamp until reply stamp (the
    # responder's sync wake-up, its own work and its send); reply stamp until the
    # customer saw it. Only the middle leg differs between bot and echo bot.
    to_server_ms: float | None
    responder_ms: float | None
    back_ms: float | None


async def ping_once(customer: Person, room: str, responder: str, timeout: float = 30) -> Ping:
    """Send ``!ping`` and wait until the responder's answer in its thread shows up in our sync."""
    since = len(customer.events)
    wall0 = time.time()
    started = time.perf_counter()
    ask = await customer.send(room, "!ping")
    reply = await customer.wait_for(
        lambda e: (
            e.sender == responder
            and e.kind is Kind.message
            and (e.reply_to == ask or e.thread_root == ask)
        ),
        timeout,
        since=since,
    )
    total = (time.perf_counter() - started) * 1000
    wall1 = time.time()
    asked = next((e for e in customer.events[since:] if e.event_id == ask), None)
    if asked is None:
        return Ping(total, None, None, None)
    return Ping(
        total,
        asked.ts - wall0 * 1000,
        float(reply.ts - asked.ts),
        wall1 * 1000 - reply.ts,
    )


def summary(pings: list[Ping]) -> dict[str, float]:
    samples = [p.total_ms for p in pings]
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    out = {
        "n": len(samples),
        "p50_ms": round(statistics.median(samples), 2),
        "p95_ms": round(cuts[94], 2),
        "mean_ms": round(statistics.fmean(samples), 2),
        "min_ms": round(min(samples), 2),
        "max_ms": round(max(samples), 2),
    }
    for leg in ("to_server_ms", "responder_ms", "back_ms"):
        values = [v for p in pings if (v := getattr(p, leg)) is not None]
        if len(values) >= 2:
            out[f"{leg.removesuffix('_ms')}_p50_ms"] = round(statistics.median(values), 2)
            out[f"{leg.removesuffix('_ms')}_p95_ms"] = round(
                statistics.quantiles(values, n=100, method="inclusive")[94], 2
            )
    return out


async def latency_run(
    customer: Person, targets: dict[str, tuple[str, str]], pings: int, block: int, warmup: int
) -> dict[str, list[Ping]]:
    """Alternate blocks of ``block`` pings between the targets until each has ``pings``."""
    for room, responder in targets.values():
        for _ in range(warmup):
            await ping_once(customer, room, responder, timeout=60)
    samples: dict[str, list[Ping]] = {name: [] for name in targets}
    names = list(targets)
    round_no = 0
    while any(len(s) < pings for s in samples.values()):
        order = names if round_no % 2 == 0 else names[::-1]
        for name in order:
            room, responder = targets[name]
            for _ in range(min(block, pings - len(samples[name]))):
                samples[name].append(await ping_once(customer, room, responder))
        round_no += 1
    return samples


# ---- Synapse's own send rate ------------------------------------------------------------


async def synapse_send_rate(server: Synapse, n: int, messages: int, in_flight: int = 8) -> float:
    """Messages/s one client gets into one room (nobody else in it) with ``in_flight`` concurrent sends."""
    account = server.register(f"loader{n}")
    room = create_room(server, account.access_token, f"Load {n}", [], {})
    client = nio.AsyncClient(server.url, account.user_id, device_id=account.device_id)
    client.restore_login(account.user_id, account.device_id, account.access_token)
    counter = iter(range(messages))

    async def worker() -> None:
        for i in counter:
            content = {"msgtype": "m.text", "body": f"load {i}"}
            resp = await client.room_send(room, "m.room.message", content)
            assert isinstance(resp, nio.RoomSendResponse), resp

    try:
        for _ in range(20):  # warm the connection pool and Synapse's caches
            await client.room_send(room, "m.room.message", {"msgtype": "m.text", "body": "warm"})
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        return messages / (time.perf_counter() - started)
    finally:
        await client.close()


# ---- router capacity (in-process, stub gateway) -----------------------------------------------


class StubGateway:
    """Just enough of MatrixGateway for the router: no network, every send returns at once."""

    user_id = "@bench-bot:localhost"

    def power_level(self, room_id: str, user_id: str) -> int:
        return 0

    def is_dm(self, room_id: str) -> bool:
        return False

    async def send(self, room_id: str, html: str, plain: str | None = None, **kw: Any) -> str:
        return "$sent"

    async def reply(self, event: Event, html: str, plain: str | None = None, **kw: Any) -> str:
        return "$sent"


def bench_registry() -> Registry:
    reg = Registry()

    @passive("noop", kinds=(Kind.message,), places=ANYWHERE)
    async def noop_passive(ctx: EventContext) -> None:
        return None

    @command("noop", summary="does nothing")
    async def noop_command(ctx: EventContext, args: argparse.Namespace) -> None:
        return None

    reg.add(noop_passive)
    reg.add(noop_command)
    return reg


def synthetic_events(n: int, support: str, staff: str, sender: str) -> list[dict[str, Any]]:
    """Raw /sync-shaped events: half plain messages (passive path), half ``!noop`` commands."""
    now = int(time.time() * 1000) + 60_000
    return [
        {
            "event_id": f"$bench{i}",
            "type": "m.room.message",
            "sender": sender,
            "origin_server_ts": now + i,
            "content": {"msgtype": "m.text", "body": "!noop" if i % 2 else f"hello {i}"},
            "room_id": support if i % 4 < 3 else staff,
        }
        for i in range(n)
    ]


async def router_capacity(config: Config, data_dir: Path, events: int) -> dict[str, float]:
    store = await Store.open(data_dir / "bench.sqlite3")
    await store.migrate("core", intake_mod.MIGRATIONS)
    stub = cast(MatrixGateway, StubGateway())
    services = Services(
        config=config, store=store, matrix=stub, roles=Roles(config, stub), metrics=Metrics()
    )
    router = Router(services, bench_registry())
    sender = "@someone:localhost"
    out: dict[str, float] = {}
    try:
        raws = synthetic_events(events, config.rooms.support, config.rooms.staff, sender)
        parsed = [parse_event(r["room_id"], r) for r in raws]
        for e in parsed[:1000]:  # warm-up: imports, caches
            await router.dispatch(e)
        best = 0.0
        for _ in range(3):
            started = time.perf_counter()
            for e in parsed:
                await router.dispatch(e)
            best = max(best, len(parsed) / (time.perf_counter() - started))
        out["router_events_per_s"] = best
        for label, subset in (
            ("router_passive_events_per_s", [e for e in parsed if not e.body.startswith("!")]),
            ("router_command_events_per_s", [e for e in parsed if e.body.startswith("!")]),
        ):
            started = time.perf_counter()
            for e in subset:
                await router.dispatch(e)
            out[label] = len(subset) / (time.perf_counter() - started)

        # For information: the bot's real per-event path also parses the event and
        # checks/marks the SQLite ledger around dispatch (Intake._one).
        async def no_invite(room_id: str, inviter: str) -> None:
            return None

        intake = Intake(
            stub,
            store,
            services.metrics,
            router.dispatch,
            no_invite,
            timeline_limit=500,
            sync_timeout_ms=0,
        )
        intake.birth_ms = 0
        ledger_raws = synthetic_events(
            min(events, 5000), config.rooms.support, config.rooms.staff, sender
        )
        for r in ledger_raws:
            r["event_id"] += "-ledger"
        started = time.perf_counter()
        for r in ledger_raws:
            work = intake._work(r["room_id"], r)
            if work is not None:
                await work[0]()
        out["intake_events_per_s"] = len(ledger_raws) / (time.perf_counter() - started)
    finally:
        await store.close()
    return out


# ---- the run ------------------------------------------------------------------------------------


async def make_echo_world(world: World, n: int) -> tuple[Account, str]:
    """A room shaped like the support room (same members), answered by the echo bot instead."""
    server = world.server
    echo = server.register(f"echo{n}")
    room = create_room(
        server,
        world.admin.account.access_token,
        f"Echo {n}",
        [echo.user_id, world.engineer.user_id, world.customer.user_id],
        {echo.user_id: 100, world.engineer.user_id: 50},
    )
    for token in (echo.access_token,):
        resp = server.api("POST", f"/_matrix/client/v3/rooms/{room}/join", token, {})
        assert "room_id" in resp, resp
    for person in (world.engineer, world.customer):
        resp = await person.client.join(room)
        assert isinstance(resp, nio.JoinResponse), resp
    return echo, room


async def wait_joined(server: Synapse, token: str, room: str, user_id: str) -> None:
    """The bot joins its invited rooms right after its first sync; pings before that go unseen."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        resp = server.api("GET", f"/_matrix/client/v3/rooms/{room}/joined_members", token)
        if user_id in resp.get("joined", {}):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{user_id} did not join {room}")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="bench-foundation-"))
    server = Synapse(tmp / "synapse", free_port())
    print(f"starting Synapse in {tmp}", file=sys.stderr)
    server.start()
    procs: list[Proc] = []
    world: World | None = None
    try:
        world = await build_world(server, tmp, encrypted=False)
        echo_account, echo_room = await make_echo_world(world, 0)
        # Only the customer's client is needed from here; fewer syncing clients in
        # this process means less noise in what the customer measures.
        for person in (world.admin, world.engineer):
            await person.stop()

        web_port = free_port()
        config_path = tmp / "bot.toml"
        write_bot_config(world, world.data_dir, web_port, config_path)
        log_path = tmp / "bot.log"
        bot, bot_ready_cold = await start_bot(config_path, web_port, log_path)
        procs.append(bot)
        echo_content = BOT_LIKE if args.echo_like_bot else PONG
        echo, echo_ready = await start_echo(server, echo_account, echo_content)
        procs.append(echo)
        print(f"bot ready in {bot_ready_cold:.2f} s (first start)", file=sys.stderr)
        await wait_joined(
            server, world.customer.account.access_token, world.support, world.bot.user_id
        )

        targets = {
            "bot": (world.support, world.bot.user_id),
            "echo": (echo_room, echo_account.user_id),
        }
        cpu_before = {p.name: p.cpu_seconds() for p in (bot, echo)}
        samples = await latency_run(world.customer, targets, args.pings, args.block, args.warmup)
        cpu_ms_per_ping = {
            p.name: round(
                (p.cpu_seconds() - cpu_before[p.name]) * 1000 / (args.pings + args.warmup), 2
            )
            for p in (bot, echo)
        }
        bot_rss = bot.rss_kib()
        handler = await asyncio.to_thread(_handler_seconds, web_port)
        echo_rss = echo.rss_kib()
        for p in (bot, echo):
            await p.stop()
        procs.clear()

        warm_ready = []
        for _ in range(args.restarts):
            again, seconds = await start_bot(config_path, web_port, log_path)
            procs.append(again)
            warm_ready.append(seconds)
            await again.stop()
            procs.clear()

        rate = await synapse_send_rate(server, 0, args.send_messages)
        capacity = await router_capacity(
            world.config(bot={"data_dir": str(tmp / "capacity")}), tmp / "capacity", args.events
        )
    finally:
        for p in procs:
            with contextlib.suppress(Exception):
                await p.stop()
        if world is not None:
            await world.customer.stop()
        server.stop()

    bot_lat, echo_lat = summary(samples["bot"]), summary(samples["echo"])
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "synapse": version("matrix-synapse"),
            "matrix_nio": version("matrix-nio"),
            # Other work on the machine shows here; the ratios are what to compare.
            "loadavg_1m_start_end": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        },
        "latency": {
            "encryption": False,
            "echo_content": "like the bot's reply" if args.echo_like_bot else "pong",
            "pings_each": args.pings,
            "block": args.block,
            "bot": bot_lat,
            "echo": echo_lat,
            "ratio_p50": round(bot_lat["p50_ms"] / echo_lat["p50_ms"], 3),
            "ratio_p95": round(bot_lat["p95_ms"] / echo_lat["p95_ms"], 3),
            # With block=1 the i-th bot and echo pings ran back to back: the median of
            # their ratios is the least noisy single figure on a shared machine.
            "paired_median_ratio": round(
                statistics.median(
                    b.total_ms / e.total_ms
                    for b, e in zip(samples["bot"], samples["echo"], strict=True)
                ),
                3,
            ),
            "bot_handler": handler,
            # CPU each responder process spent per ping it answered (incl. its idle sync loop).
            "cpu_ms_per_ping": cpu_ms_per_ping,
            "target_ratio_max": LATENCY_TARGET,
        },
        "capacity": {
            **{k: round(v, 1) for k, v in capacity.items()},
            "synapse_send_per_s": round(rate, 1),
            "synapse_in_flight": 8,
            "ratio": round(capacity["router_events_per_s"] / rate, 1),
            "target_ratio_min": CAPACITY_TARGET,
        },
        "process": {
            "bot_rss_mib": round(bot_rss / 1024, 1),
            "echo_rss_mib": round(echo_rss / 1024, 1),
            "bot_start_to_ready_s_first": round(bot_ready_cold, 3),
            "bot_start_to_ready_s_restart": [round(s, 3) for s in warm_ready],
            "echo_start_to_first_sync_s": round(echo_ready, 3),
        },
    }


def print_table(r: dict[str, Any]) -> None:
    lat, cap, proc = r["latency"], r["capacity"], r["process"]
    ok = lambda good: "ok" if good else "MISSED"  # noqa: E731
    rows = [
        ("echo bot answers with", lat["echo_content"], ""),
        (
            "reply latency p50 bot / echo",
            f"{lat['bot']['p50_ms']:.1f} / {lat['echo']['p50_ms']:.1f} ms",
            "",
        ),
        (
            "reply latency p95 bot / echo",
            f"{lat['bot']['p95_ms']:.1f} / {lat['echo']['p95_ms']:.1f} ms",
            "",
        ),
        (
            "  legs p50 bot: to server/responder/back",
            "/".join(
                f"{lat['bot'].get(k + '_p50_ms', 0):.0f}"
                for k in ("to_server", "responder", "back")
            )
            + " ms",
            "",
        ),
        (
            "  legs p50 echo: to server/responder/back",
            "/".join(
                f"{lat['echo'].get(k + '_p50_ms', 0):.0f}"
                for k in ("to_server", "responder", "back")
            )
            + " ms",
            "",
        ),
        (
            "latency ratio p50 (target <= 1.10)",
            f"{lat['ratio_p50']:.3f}",
            ok(lat["ratio_p50"] <= LATENCY_TARGET),
        ),
        (
            "latency ratio p95 (target <= 1.10)",
            f"{lat['ratio_p95']:.3f}",
            ok(lat["ratio_p95"] <= LATENCY_TARGET),
        ),
        ("latency paired median ratio", f"{lat['paired_median_ratio']:.3f}", ""),
        (
            "bot's own mean handler time (incl. send)",
            f"{lat['bot_handler']['handler_mean_ms']:.1f} ms",
            "",
        ),
        (
            "CPU per ping bot / echo",
            f"{lat['cpu_ms_per_ping']['bot']:.2f} / {lat['cpu_ms_per_ping']['echo']:.2f} ms",
            "",
        ),
        ("router events/s (no-op handlers)", f"{cap['router_events_per_s']:,.0f}", ""),
        (
            "  passive only / command only",
            f"{cap['router_passive_events_per_s']:,.0f} / {cap['router_command_events_per_s']:,.0f}",
            "",
        ),
        ("  intake+router incl. ledger (info)", f"{cap['intake_events_per_s']:,.0f}", ""),
        ("Synapse send msgs/s (8 in flight)", f"{cap['synapse_send_per_s']:,.0f}", ""),
        (
            "capacity ratio (target >= 20)",
            f"{cap['ratio']:.1f}",
            ok(cap["ratio"] >= CAPACITY_TARGET),
        ),
        (
            "bot RSS after latency run (echo)",
            f"{proc['bot_rss_mib']:.1f} MiB ({proc['echo_rss_mib']:.1f})",
            "",
        ),
        ("start to ready, first start", f"{proc['bot_start_to_ready_s_first']:.2f} s", ""),
        (
            "start to ready, restarts",
            ", ".join(f"{s:.2f}" for s in proc["bot_start_to_ready_s_restart"]) + " s",
            "",
        ),
        ("echo bot start to first sync", f"{proc['echo_start_to_first_sync_s']:.2f} s", ""),
        (
            "machine: cpus, load avg start/end",
            f"{r['machine']['cpus']}, " + "/".join(map(str, r["machine"]["loadavg_1m_start_end"])),
            "",
        ),
    ]
    width = max(len(a) for a, _, _ in rows)
    for name, value, verdict in rows:
        print(f"{name:<{width}}  {value:>24}  {verdict}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_foundation")
    parser.add_argument("--pings", type=int, default=200, help="measured pings per responder")
    parser.add_argument("--block", type=int, default=1, help="pings in a row before switching")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured pings per responder")
    parser.add_argument("--restarts", type=int, default=3, help="restarts timed to /readyz")
    parser.add_argument("--send-messages", type=int, default=800, help="for Synapse's send rate")
    parser.add_argument("--events", type=int, default=20000, help="synthetic events for the router")
    parser.add_argument(
        "--echo-like-bot",
        action="store_true",
        help="the echo bot answers with the bot's reply content (HTML, m.mentions) instead of 'pong'",
    )
    parser.add_argument("--no-write", action="store_true", help="do not write the JSON results")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    print_table(result)
    if not args.no_write:
        path = RESULTS.with_stem("foundation_echo_like_bot") if args.echo_like_bot else RESULTS
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
