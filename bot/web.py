"""/healthz, /readyz and /metrics; features may add routes (e.g. an RT webhook)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.clock import Clock, unix, utcnow
from bot.metrics import Metrics


def build_web_app(
    metrics: Metrics,
    last_sync: Callable[[], float],
    max_sync_age_s: float,
    clock: Clock = utcnow,
    cross_signed: Callable[[], bool | None] = lambda: None,
    stalled_for: Callable[[], float] = lambda: 0.0,
    max_stall_s: float = 120.0,
) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        age = unix(clock) - last_sync()
        # Syncing is not enough: events that wait while none finishes mean a deaf bot.
        stalled = stalled_for()
        # An unsigned device with encryption on is not ready: Element users in encrypted
        # rooms can neither read the bot nor reach it, so the operator must act (the
        # reason is in the log and check-config --online). None: not applicable.
        signed = cross_signed()
        ready = age <= max_sync_age_s and stalled <= max_stall_s and signed is not False
        return web.json_response(
            {
                "ready": ready,
                "last_sync_age_s": round(age, 1),
                "handling_stalled_s": round(stalled, 1),
                "cross_signed": signed,
            },
            status=200 if ready else 503,
        )

    async def metrics_view(_: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)
    return app


async def start_web(app: web.Application, listen: str) -> web.AppRunner:
    host, _, port = listen.rpartition(":")
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host or "127.0.0.1", int(port)).start()
    return runner
