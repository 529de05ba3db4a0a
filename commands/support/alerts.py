"""Support: SLA alerts to staff, the periodic loops, the report."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from datetime import datetime

from bot.html import esc, link
from bot.txn import caused_by
from commands.support.report import figures, report_html
from commands.support.repository import TimerRow
from commands.support.sla import dt
from commands.support.threads import ThreadsMixin

log = logging.getLogger("commands.support.commands")  # the name it logged under before the split


class AlertsMixin(ThreadsMixin):
    """First-response alerts (one summary after downtime), the SLA and metrics loops."""

    # ---- SLA alerts

    def _what(self, timer: TimerRow) -> str:
        where = link(self.thread_link(timer.room_id, timer.thread_id), "a customer thread")
        if timer.kind == "ticket":
            return f"{where} (RT#{timer.ticket_id}, {esc(timer.severity or '')}, {esc(timer.tier or 'standard')})"
        return where

    def _alert_html(self, timer: TimerRow, alert: str, now: datetime) -> str:
        t = self.settings.texts
        since = esc(self.calendar.describe(dt(timer.started_at)))
        if alert == "breach":
            return t.sla_breach.format(what=self._what(timer), since=since)
        left_s = max(
            0.0,
            timer.target_s - self.policy.counted(dt(timer.started_at), now, timer.around_the_clock),
        )
        left = esc(f"{left_s / 60:.0f} min")
        return t.sla_warning.format(left=left, what=self._what(timer), since=since)

    async def check_sla(self) -> int:
        """One pass: post what fell due; many at once (after downtime) become one summary."""
        now = self.clock()
        fired = await self.timers.fire_due(now)
        if not fired:
            return 0
        if len(fired) > self.settings.sla_catchup_max_lines:
            breaches = [t for t, a in fired if a == "breach"]
            warns = [t for t, a in fired if a == "warn"]
            items = "".join(f"<li>{self._what(t)}</li>" for t in breaches[:10])
            more = f"<li>… and {len(breaches) - 10} more</li>" if len(breaches) > 10 else ""
            key = "|".join(sorted(f"{t.room_id}:{t.thread_id}:{a}" for t, a in fired))
            with caused_by(f"sla-summary:{hashlib.sha256(key.encode()).hexdigest()[:16]}"):
                await self.services.tell_staff(
                    f"🚨 {len(breaches)} first-response target(s) missed and {len(warns)} close to "
                    f"due (summary after a pause):<ul>{items}{more}</ul>"
                )
        else:
            for timer, alert in fired:
                # The timer's alert at its moment: a re-armed timer (new target) has a new one.
                when = timer.due_at if alert == "breach" else timer.warn_at
                with caused_by(
                    f"sla:{timer.room_id}:{timer.thread_id}:{alert}:{when}", replay=True
                ):
                    await self.services.tell_staff(self._alert_html(timer, alert, now))
        for _timer, alert in fired:
            self.services.metrics.commands.labels(f"support-sla-{alert}", "posted").inc()
        return len(fired)

    async def tick(self) -> None:
        await self.board.post_due(self.clock())
        await self.check_sla()

    async def report(self, period: str) -> str:
        f = await figures(self.services.store, self.calendar, self.clock(), period)  # type: ignore[arg-type]
        self.report_metrics.update(f)
        return report_html(f, self.calendar)

    async def metrics_loop(self) -> None:
        """Keep the report gauges fresh for Prometheus (a minute is plenty for these figures)."""
        while True:
            for period in ("week", "month"):
                try:
                    f = await figures(self.services.store, self.calendar, self.clock(), period)  # type: ignore[arg-type]
                    self.report_metrics.update(f)
                except Exception:
                    log.exception("support report metrics failed")
            await asyncio.sleep(60)

    async def sla_loop(self) -> None:
        await self.resume_out_of_hours()
        while True:
            self._wake.clear()
            try:
                await self.tick()
            except Exception:
                log.exception("SLA check failed")
                self.services.metrics.errors.labels("support:sla").inc()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.sla_check_seconds)
