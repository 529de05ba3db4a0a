"""RT backends: create latency per backend vs RT's own create time; poll cost vs open tickets.

    .venv/bin/python -m benchmarks.bench_rt_backends [--runs 15] [--open 10,200]

Starts a fresh RT 5.0.3 and a fresh RT 4.4.6 on loopback (both from Debian's packages).
Backends: REST 2.0 on RT 5, REST 1.0 on RT 4.4, REST 1.0 on RT 5.

- Create: the bot's client `create_ticket()` with a transcript-sized HTML body, the plain
  transcript as a file and both custom fields, timed end to end (REST 1.0 includes finding
  nothing else; the session is already logged in). Baseline, same run, interleaved one for
  one against the same RT: RT's own create time = one bare HTTP request carrying the same
  ticket, pre-encoded (REST 2.0: one JSON POST with the token; REST 1.0: one form POST with
  the session cookie), so the ratio is what the client adds on top of RT.
- Poll: exactly N open tickets in the queue (N = 10 and 200; the rest resolved), then
  requests per poll cycle of
  `transactions_since()`: a quiet cycle (nothing new), a cycle after agents replied on 3
  tickets, and, for REST 1.0, how many cycles and requests the catch-up after creating the N
  tickets took (those all count as "updated" once).

Results: a table on stdout and `benchmarks/results/rt_backends.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from commands.escalation.rt.rest1 import RTRest1Client
from commands.escalation.rt.rest1_form import compose_form
from commands.escalation.rt.rest2 import RTClient as RTRest2Client
from commands.escalation.settings import RTSettings
from harness.rt4_server import start_rt4
from harness.rt_server import RTInstance, start_rt

TRANSCRIPT = "\n".join(
    f"[10:{i:02d}] alice: line {i} of the thread, with <b>markup</b> &amp; åäö 🔥"
    for i in range(40)
)
HTML = "<p>" + TRANSCRIPT.replace("\n", "<br>\n") + "</p>"


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[max(0, min(len(s) - 1, round(p / 100 * (len(s) - 1))))]


def settings(rt: RTInstance, api: str, **kw: Any) -> RTSettings:
    base: dict[str, Any] = {"url": rt.url, "queue": rt.queue, "api": api}
    if api == "rest2":
        base["token"] = rt.token
    else:
        base["username"], base["password"] = rt.bot_user, "bot-password-123"
    base.update(kw)
    return RTSettings.model_validate(base)


def counting(client: Any) -> list[str]:
    """Every HTTP request the client's session sends, via aiohttp tracing."""
    sent: list[str] = []

    async def on_start(_s: Any, _c: Any, p: aiohttp.TraceRequestStartParams) -> None:
        sent.append(f"{p.method} {p.url.path}")

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    kw: dict[str, Any] = {"trace_configs": [trace]}
    if isinstance(client, RTRest1Client):
        kw["cookie_jar"] = aiohttp.CookieJar(unsafe=True)
        client._logged_in = False
    client._session = aiohttp.ClientSession(**kw)
    client._own_session = True
    return sent


async def client_create(client: Any, rt: RTInstance) -> int:
    return await client.create_ticket(
        queue=rt.queue,
        subject=f"bench {uuid.uuid4().hex[:8]}",
        requestor="alice@example.com",
        html=HTML,
        text=TRANSCRIPT,
        priority=20,
        custom_fields={rt.room_field: "!bench:example.org", rt.thread_field: f"${uuid.uuid4()}"},
    )


async def raw_create(http: aiohttp.ClientSession, rt: RTInstance, api: str) -> None:
    """RT's own create time: one pre-built request, no client logic around it."""
    fields = {rt.room_field: "!bench:example.org", rt.thread_field: f"${uuid.uuid4()}"}
    if api == "rest2":
        payload = {
            "Queue": rt.queue,
            "Subject": "raw",
            "Requestor": "alice@example.com",
            "Content": HTML,
            "ContentType": "text/html",
            "Priority": 20,
            "CustomFields": fields,
        }
        async with http.post(
            f"{rt.url}/REST/2.0/ticket",
            json=payload,
            headers={"Authorization": f"token {rt.token}"},
        ) as r:
            assert r.status == 201, await r.text()
        return
    form = compose_form(
        [
            ("id", "ticket/new"),
            ("Queue", rt.queue),
            ("Requestor", "alice@example.com"),
            ("Subject", "raw"),
            ("Priority", 20),
            *((f"CF.{{{k}}}", v) for k, v in fields.items()),
            ("Content-Type", "text/html"),
        ],
        {"Text": HTML},
    )
    async with http.post(f"{rt.url}/REST/1.0/ticket/new", data={"content": form}) as r:
        assert "created." in await r.text()


async def bench_create(rt: RTInstance, api: str, runs: int) -> dict[str, float]:
    async with (
        RTRest1Client(settings(rt, "rest1"))
        if api == "rest1"
        else RTRest2Client(settings(rt, "rest2")) as client
    ):
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            if api == "rest1":  # the raw baseline reuses a session cookie too
                await http.post(
                    f"{rt.url}/REST/1.0/",
                    data={"user": rt.bot_user, "pass": "bot-password-123"},
                )
            await client_create(client, rt)  # warm-up: first create on a fresh RT is slow
            await raw_create(http, rt, api)
            ours, base = [], []
            for _ in range(runs):
                t = time.perf_counter()
                await client_create(client, rt)
                ours.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                await raw_create(http, rt, api)
                base.append((time.perf_counter() - t) * 1000)
    p50, b50 = statistics.median(ours), statistics.median(base)
    return {
        "client_p50_ms": round(p50, 1),
        "client_p95_ms": round(pct(ours, 95), 1),
        "rt_own_p50_ms": round(b50, 1),
        "rt_own_p95_ms": round(pct(base, 95), 1),
        "ratio_p50": round(p50 / b50, 2),
    }


async def fill_queue(rt: RTInstance, api: str, target: int) -> list[int]:
    """Exactly `target` open tickets: resolve what is open, then create fresh ones."""
    async with (
        RTRest1Client(settings(rt, "rest1"))
        if api == "rest1"
        else RTRest2Client(settings(rt, "rest2")) as c
    ):
        query = f"Queue = '{rt.queue}' AND Status != 'resolved'"
        sem = asyncio.Semaphore(4)

        async def close(tid: int) -> None:
            async with sem:
                await c.resolve(tid)

        async def one(i: int) -> int:
            async with sem:
                return await c.create_ticket(queue=rt.queue, subject=f"open {i}", text="x")

        await asyncio.gather(*(close(t.id) for t in await c.search_tickets(query)))
        ids = list(await asyncio.gather(*(one(i) for i in range(target))))
        assert len(await c.search_tickets(query)) == target
        return ids


async def bench_poll(rt: RTInstance, api: str, open_tickets: int) -> dict[str, Any]:
    ids = await fill_queue(rt, api, open_tickets)
    cls = RTRest1Client if api == "rest1" else RTRest2Client
    async with (
        cls(settings(rt, api)) as c,
        RTRest1Client(  # type: ignore[attr-defined]
            settings(rt, "rest1", username="agent", password="agent-password-123")
        ) as agent,
    ):
        sent = counting(c)
        hw = await c.latest_transaction_id(rt.queue)
        me = rt.bot_user
        # Catch-up: REST 1.0 sees every just-created ticket as updated once.
        catchup_cycles, catchup_requests = 0, 0
        while True:
            sent.clear()
            txns = await c.transactions_since(rt.queue, hw, exclude_creator=me)
            catchup_cycles += 1
            catchup_requests += len(sent)
            hw = max([hw, *(t.id for t in txns)])
            if api == "rest2" or not c._poll.deferred:
                break
        sent.clear()
        assert await c.transactions_since(rt.queue, hw, exclude_creator=me) == []
        quiet = len(sent)
        for t in ids[:3]:
            await agent.correspond(t, text="agent reply")
        sent.clear()
        txns = await c.transactions_since(rt.queue, hw, exclude_creator=me)
        busy = len(sent)
        assert sum(1 for t in txns if t.type == "Correspond") >= 3, txns
    return {
        "open_tickets": len(ids),
        "quiet_cycle_requests": quiet,
        "cycle_after_3_replies_requests": busy,
        "catchup_cycles": catchup_cycles,
        "catchup_requests": catchup_requests,
    }


async def bench(runs: int, sizes: list[int], workdir: Path) -> dict[str, Any]:
    t0 = time.monotonic()
    rt5 = start_rt(workdir / "rt5")
    t5 = time.monotonic() - t0
    t0 = time.monotonic()
    rt4 = start_rt4(workdir / "rt4")
    t4 = time.monotonic() - t0
    try:
        backends = {
            "rest2-rt5": (rt5, "rest2"),
            "rest1-rt4": (rt4, "rest1"),
            "rest1-rt5": (rt5, "rest1"),
        }
        out: dict[str, Any] = {
            "start_s": {"rt5": round(t5, 1), "rt4": round(t4, 1)},
            "create": {},
            "poll": {},
        }
        for name, (rt, api) in backends.items():
            print(f"create: {name} ...", flush=True)
            out["create"][name] = await bench_create(rt, api, runs)
        for name, (rt, api) in backends.items():
            if name == "rest1-rt5":
                continue  # same REST 1.0 code as on RT 4.4; the RT 5 queue is shared with rest2
            for n in sizes:
                print(f"poll: {name} with {n} open tickets ...", flush=True)
                out["poll"][f"{name}@{n}"] = await bench_poll(rt, api, n)
        return out
    finally:
        rt4.stop()
        rt5.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--open", default="10,200")
    args = ap.parse_args()
    sizes = [int(x) for x in args.open.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-rt-") as d:
        res = asyncio.run(bench(args.runs, sizes, Path(d)))
    print(json.dumps(res, indent=2))
    out = Path(__file__).parent / "results" / "rt_backends.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
