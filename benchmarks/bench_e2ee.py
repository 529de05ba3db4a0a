"""E2EE benchmark: ``!ping`` latency seen by an Element-grade client, encrypted vs plain room.

    .venv/bin/python -m benchmarks.bench_e2ee [--pings 20]

A real Synapse started here, the bot in-process as in the tests, and a
matrix-js-sdk 34.13 client (Rust crypto, own cross-signing,
OnlySignedDevicesIsolationMode) as the customer. For each room kind (encrypted
support room, then an unencrypted one as the baseline, same run), N sequential
``!ping`` messages; latency is the customer's wall clock from just before the
send to the moment its client had the (decrypted) reply. Also start-to-ready
(``App.start()``: login, key upload, cross-signing, first sync, joins): first start
with the bootstrap, a restart with the same store (signature check only), and a
restart with ``cross_signing = false`` as the baseline.

Results: stdout and ``benchmarks/results/e2ee.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.app import App
from harness.js_client import JsClient, js_available
from harness.matrix_helpers import World
from harness.synapse_server import Synapse, free_port
from harness.world import build_world

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "e2ee.json"


async def js_in(world: World, tmp: Path, name: str) -> JsClient:
    account = world.server.register(name)
    world.server.api(
        "POST",
        f"/_matrix/client/v3/rooms/{world.support}/invite",
        world.admin.account.access_token,
        {"user_id": account.user_id},
    )
    js = await JsClient(
        world.server.url, account.user_id, account.password, tmp / f"{name}.log"
    ).start()
    await js.join(world.support)
    return js


async def timed_start(config: Any) -> tuple[App, float]:
    app = App(config)
    t0 = time.perf_counter()
    await app.start()
    return app, time.perf_counter() - t0


async def pings(js: JsClient, world: World, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.time() * 1000
        ask = await js.send(world.support, "!ping")
        reply = await js.wait_reply(ask, world.bot.user_id, timeout=30)
        assert not reply.decryption_failure
        out.append(reply.seen_ms - t0)
    return out


async def main(n: int) -> dict[str, Any]:
    # Under the checkout, not /tmp: a shared machine's /tmp gets swept while this runs.
    scratch = ROOT / ".bench-tmp"
    scratch.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="e2ee-", dir=scratch) as tmpdir:
        tmp = Path(tmpdir)
        server = Synapse(tmp / "synapse", free_port())
        server.start()
        try:
            (tmp / "enc").mkdir()
            (tmp / "plain").mkdir()
            enc = await build_world(server, tmp / "enc", encrypted=True)
            plain = await build_world(server, tmp / "plain", encrypted=False)
            results: dict[str, Any] = {"pings": n}
            starts = {}
            # 22 quick pings would trip the flood protection (a mute): not what is measured.
            quiet = {"moderation": {"enabled": False}}
            app, starts["first_start_bootstrap_s"] = await timed_start(enc.config(**quiet))
            js = await js_in(enc, tmp, "benchjsenc")
            await js.device_signed(enc.bot.user_id, app.services.matrix.client.device_id)
            await pings(js, enc, 2)  # warm-up: session share, key queries
            encrypted = await pings(js, enc, n)
            results["undecryptable_events"] = app.metrics.undecryptable._value.get()
            results["decrypted_late_events"] = app.metrics.decrypted_late._value.get()
            await js.stop()
            await app.stop()
            app, starts["restart_same_store_s"] = await timed_start(enc.config(**quiet))
            await app.stop()
            app, starts["restart_cross_signing_off_s"] = await timed_start(
                enc.config(matrix={"cross_signing": False}, **quiet)
            )
            await app.stop()

            app, _ = await timed_start(plain.config(**quiet))
            js = await js_in(plain, tmp, "benchjsplain")
            await pings(js, plain, 2)
            unencrypted = await pings(js, plain, n)
            await js.stop()
            await app.stop()
            for w in (enc, plain):
                for person in (w.admin, w.engineer, w.customer):
                    await person.stop()
        finally:
            server.stop()
    p50_enc, p50_plain = statistics.median(encrypted), statistics.median(unencrypted)
    results.update(
        {
            "encrypted_ms": {"p50": round(p50_enc, 1), "max": round(max(encrypted), 1)},
            "unencrypted_ms": {"p50": round(p50_plain, 1), "max": round(max(unencrypted), 1)},
            "p50_ratio_encrypted_vs_plain": round(p50_enc / p50_plain, 2),
            "start_to_ready": {k: round(v, 2) for k, v in starts.items()},
        }
    )
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pings", type=int, default=20)
    args = parser.parse_args()
    if reason := js_available():
        raise SystemExit(f"cannot run: {reason}")
    out = asyncio.run(main(args.pings))
    print(json.dumps(out, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
