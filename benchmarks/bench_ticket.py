"""!ticket benchmark: escalation latency vs RT's own create latency; RT-to-thread delay.

    .venv/bin/python -m benchmarks.bench_ticket [--runs 20] [--rt-replies 6]

One fresh Synapse and one fresh RT 5 (both on loopback, started here), the bot in-process.

- `!ticket` latency: an engineer sends `!ticket P3 ...` in a customer's thread; timed from
  just before the send until the engineer's own /sync shows the bot's `RT#n` reply. It
  includes Matrix delivery both ways, fetching the thread, building the transcript, writing
  the outbox intent, RT's create and the reply.
- Baseline, same run, interleaved one-for-one: RT's own create latency (one REST 2.0
  `POST /ticket` with a transcript-sized HTML body, the bot's client and token).
- RT-to-thread: an agent corresponds on the ticket in RT (REST, as a staff user); timed until
  the reply shows in the thread, with the default poll interval (15 s), at a random phase of
  the poll cycle; then again with RT's webhook scrip pointing at the bot (an early-poll hint).

Results: a table on stdout and `benchmarks/results/ticket.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from commands.escalation.rt.rest2 import RTClient
from commands.escalation.settings import RTSettings
from harness.matrix_helpers import World, running_bot
from harness.rt_server import RTInstance, start_rt
from harness.synapse_server import Synapse, free_port
from harness.world import build_world

RT_NUM = re.compile(r"RT#(\d+)")


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(p / 100 * (len(s) - 1))))
    return s[k]


async def agent_reply(rt: RTInstance, ticket: int, text: str) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            f"{rt.rest_url}/ticket/{ticket}/correspond",
            json={"Content": text, "ContentType": "text/plain"},
            headers={"Authorization": aiohttp.encode_basic_auth(*rt.agent_auth)},
        ) as r,
    ):
        assert r.status == 201, await r.text()


async def bench(runs: int, rt_replies: int, workdir: Path) -> dict[str, Any]:
    synapse = Synapse(workdir / "synapse", free_port())
    synapse.start()
    rt = start_rt(workdir / "rt")
    try:
        world: World = await build_world(synapse, workdir)
        rt_cfg = {"url": rt.url, "token": rt.token, "queue": rt.queue}  # defaults otherwise
        settings = RTSettings.model_validate(rt_cfg)
        bot = world.bot.user_id
        c, e = world.customer, world.engineer
        ticket_ms: list[float] = []
        create_ms: list[float] = []
        tickets: list[tuple[str, int]] = []
        web_port = free_port()
        bot_cfg = world.config(
            rt=rt_cfg,
            web={"enabled": True, "listen": f"127.0.0.1:{web_port}"},
            # The benchmark customer writes faster than a person; not a flood to punish.
            moderation={"flood": {"enabled": False}},
        )
        async with running_bot(bot_cfg) as app, RTClient(settings) as rtc:
            app.services.escalation.directory.overrides = {
                c.user_id: ("bench@example.com", "org-bench")
            }
            # Warm both paths once (connection pools, RT's Mason cache, Synapse caches).
            await rtc.create_ticket(queue=rt.queue, subject="warm-up", text="warm-up")
            filler = "<p>" + "customer text " * 40 + "</p>"
            for i in range(runs + 1):
                root = await c.send(world.support, f"bench thread {i}: the VM is down")
                await e.send(world.support, "looking into it", thread_root=root)
                t0 = time.perf_counter()
                await rtc.create_ticket(
                    queue=rt.queue,
                    subject=f"baseline {i}",
                    requestor="bench@example.com",
                    html=filler * 3,
                    text="text alternative",
                    priority=20,
                    custom_fields={rt.room_field: world.support, rt.thread_field: f"$base{i}"},
                )
                base = (time.perf_counter() - t0) * 1000
                mark = len(e.events)
                t0 = time.perf_counter()
                await e.send(world.support, f"!ticket P3 bench {i}", thread_root=root)
                ev = await e.wait_for(
                    lambda x, root=root: (
                        x.sender == bot and x.thread_root == root and "Escalated to RT#" in x.body
                    ),
                    timeout=60,
                    since=mark,
                )
                took = (time.perf_counter() - t0) * 1000
                m = RT_NUM.search(ev.body)
                assert m
                tickets.append((root, int(m.group(1))))
                if i:  # the first round is a warm-up
                    ticket_ms.append(took)
                    create_ms.append(base)
            # RT -> thread with the default poll interval.
            delay_s: list[float] = []
            rng = random.Random(4)
            for j in range(rt_replies):
                root, n = tickets[j]
                # A random phase in the poll cycle: replies arrive whenever agents write them.
                await asyncio.sleep(rng.uniform(0, settings.poll_interval_seconds))
                text = f"agent reply {j} {time.time()}"
                mark = len(c.events)
                t0 = time.perf_counter()
                await agent_reply(rt, n, text)
                await c.wait_for(
                    lambda x, text=text: x.sender == bot and text in x.body,
                    timeout=settings.poll_interval_seconds * 3,
                    since=mark,
                )
                delay_s.append(time.perf_counter() - t0)
            # The same with RT's webhook scrip pointing at the bot (poll interval unchanged).
            await asyncio.to_thread(rt.set_webhook, f"http://127.0.0.1:{web_port}/hooks/rt")
            hook_s: list[float] = []
            for j in range(rt_replies):
                root, n = tickets[j]
                await asyncio.sleep(rng.uniform(0, 2))
                text = f"hooked reply {j} {time.time()}"
                mark = len(c.events)
                t0 = time.perf_counter()
                await agent_reply(rt, n, text)
                await c.wait_for(
                    lambda x, text=text: x.sender == bot and text in x.body,
                    timeout=settings.poll_interval_seconds * 3,
                    since=mark,
                )
                hook_s.append(time.perf_counter() - t0)
        for p in (c, e, world.admin):
            await p.stop()
    finally:
        rt.stop()
        synapse.stop()
    p50_ticket = statistics.median(ticket_ms)
    p50_create = statistics.median(create_ms)
    return {
        "runs": runs,
        "ticket_reply_ms": {
            "p50": round(p50_ticket, 1),
            "p90": round(pct(ticket_ms, 90), 1),
            "max": round(max(ticket_ms), 1),
        },
        "rt_create_ms": {
            "p50": round(p50_create, 1),
            "p90": round(pct(create_ms, 90), 1),
            "max": round(max(create_ms), 1),
        },
        "ratio_p50": round(p50_ticket / p50_create, 2),
        "rt_to_thread_s": {
            "poll_interval_s": settings.poll_interval_seconds,
            "samples": [round(x, 2) for x in delay_s],
            "p50": round(statistics.median(delay_s), 2) if delay_s else None,
            "max": round(max(delay_s), 2) if delay_s else None,
        },
        "rt_to_thread_webhook_s": {
            "samples": [round(x, 2) for x in hook_s],
            "p50": round(statistics.median(hook_s), 2) if hook_s else None,
            "max": round(max(hook_s), 2) if hook_s else None,
        },
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--rt-replies", type=int, default=6)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ticket-") as tmp:
        res = asyncio.run(bench(args.runs, args.rt_replies, Path(tmp)))
    t, b = res["ticket_reply_ms"], res["rt_create_ms"]
    d = res["rt_to_thread_s"]
    print(f"{'measure':<38}{'p50':>10}{'p90':>10}{'max':>10}")
    print(f"{'!ticket -> RT#n reply (ms)':<38}{t['p50']:>10}{t['p90']:>10}{t['max']:>10}")
    print(f"{'RT POST /ticket alone (ms, baseline)':<38}{b['p50']:>10}{b['p90']:>10}{b['max']:>10}")
    print(f"ratio !ticket / RT create (p50): {res['ratio_p50']}x over {res['runs']} runs")
    print(
        f"RT reply -> thread (poll every {d['poll_interval_s']} s): p50 {d['p50']} s, "
        f"max {d['max']} s, samples {d['samples']}"
    )
    h = res["rt_to_thread_webhook_s"]
    print(f"RT reply -> thread with the webhook scrip: p50 {h['p50']} s, max {h['max']} s")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "ticket.json").write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
