"""`!report` figures: threads, first response in staffed hours, SLA breaches, auto-answers,
escalations, satisfaction, for the last week or month. The same figures feed Prometheus.

Auto-answers are read from the FAQ feature's tables when they exist (read only, by name):
the report must not depend on FAQ being enabled.
"""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from typing import Literal

from prometheus_client import CollectorRegistry, Gauge
from pydantic import BaseModel

from bot.html import esc
from bot.store import Store
from commands.support.calendar import SupportCalendar
from commands.support.sla import dt

Period = Literal["week", "month"]
PERIOD_DAYS = {"week": 7, "month": 30}


class Figures(BaseModel):
    period: Period
    since: datetime
    until: datetime
    threads: int = 0
    answered: int = 0
    first_response_p50_s: float | None = None
    first_response_p90_s: float | None = None
    sla_breaches: int = 0
    auto_answers: int = 0
    auto_up: int = 0
    auto_down: int = 0
    escalations: int = 0
    surveys: int = 0
    happy: int = 0
    unhappy: int = 0


def p50_p90(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    if len(values) == 1:
        return values[0], values[0]
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    return deciles[4], deciles[8]


async def _has_table(store: Store, name: str) -> bool:
    return bool(
        await store.fetchval("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,))
    )


async def figures(
    store: Store, calendar: SupportCalendar, now: datetime, period: Period
) -> Figures:
    since = now - timedelta(days=PERIOD_DAYS[period])
    a, b = since.timestamp(), now.timestamp()
    f = Figures(period=period, since=since, until=now)
    threads = await store.fetchall(
        "SELECT started_at, first_response_at FROM support_threads WHERE started_at>=? AND"
        " started_at<?",
        (a, b),
    )
    f.threads = len(threads)
    waits = [
        calendar.staffed_seconds_between(dt(t["started_at"]), dt(t["first_response_at"]))
        for t in threads
        if t["first_response_at"] is not None
    ]
    f.answered = len(waits)
    f.first_response_p50_s, f.first_response_p90_s = p50_p90(waits)
    f.sla_breaches = int(
        await store.fetchval(
            "SELECT count(*) FROM support_timers WHERE breached=1 AND started_at>=? AND"
            " started_at<?",
            (a, b),
        )
    )
    f.escalations = int(
        await store.fetchval(
            "SELECT count(*) FROM support_escalations WHERE at>=? AND at<?", (a, b)
        )
    )
    s = await store.fetchone(
        "SELECT count(*) AS n, sum(vote=1) AS up, sum(vote=-1) AS down FROM support_surveys"
        " WHERE asked_at>=? AND asked_at<?",
        (a, b),
    )
    if s:
        f.surveys, f.happy, f.unhappy = int(s["n"] or 0), int(s["up"] or 0), int(s["down"] or 0)
    if await _has_table(store, "kb_answers"):
        ms = (int(a * 1000), int(b * 1000))
        f.auto_answers = int(
            await store.fetchval(
                "SELECT count(*) FROM kb_answers WHERE mode='auto' AND ts>=? AND ts<?", ms
            )
        )
        if await _has_table(store, "kb_feedback"):
            v = await store.fetchone(
                "SELECT sum(f.vote=1) AS up, sum(f.vote=-1) AS down FROM kb_feedback f"
                " JOIN kb_answers k ON k.event_id=f.answer_event"
                " WHERE k.mode='auto' AND k.ts>=? AND k.ts<?",
                ms,
            )
            if v:
                f.auto_up, f.auto_down = int(v["up"] or 0), int(v["down"] or 0)
    return f


def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def report_html(f: Figures, calendar: SupportCalendar) -> str:
    rows = [
        ("Customer threads", f"{f.threads} ({f.answered} answered)"),
        (
            "First response (staffed time)",
            f"p50 {_dur(f.first_response_p50_s)}, p90 {_dur(f.first_response_p90_s)}",
        ),
        ("SLA breaches", str(f.sla_breaches)),
        ("Automatic answers", f"{f.auto_answers} (👍 {f.auto_up}, 👎 {f.auto_down})"),
        ("Escalations to RT", str(f.escalations)),
        ("Satisfaction", f"{f.surveys} asked: 👍 {f.happy}, 👎 {f.unhappy}"),
    ]
    head = (
        f"📊 Support report, last {f.period} ({esc(calendar.describe(f.since))} – "
        f"{esc(calendar.describe(f.until))})"
    )
    return head + "<ul>" + "".join(f"<li>{k}: <b>{esc(v)}</b></li>" for k, v in rows) + "</ul>"


class ReportMetrics:
    """The report's figures as Prometheus gauges, one label value per period."""

    def __init__(self, registry: CollectorRegistry) -> None:
        def g(name: str, doc: str, *labels: str) -> Gauge:
            return Gauge(name, doc, ["period", *labels], registry=registry)

        self.threads = g("backchannel_support_threads", "Customer threads started in the period")
        self.first_response = g(
            "backchannel_support_first_response_seconds",
            "First response in staffed seconds",
            "quantile",
        )
        self.breaches = g("backchannel_support_sla_breaches", "First-response SLA breaches")
        self.auto_answers = g("backchannel_support_auto_answers", "Automatic FAQ answers")
        self.auto_votes = g(
            "backchannel_support_auto_answer_votes", "👍/👎 on auto-answers", "vote"
        )
        self.escalations = g("backchannel_support_escalations", "Threads escalated to RT")
        self.satisfaction = g("backchannel_support_satisfaction", "Survey answers by vote", "vote")

    def update(self, f: Figures) -> None:
        p = f.period
        self.threads.labels(p).set(f.threads)
        for q, v in (("0.5", f.first_response_p50_s), ("0.9", f.first_response_p90_s)):
            self.first_response.labels(p, q).set(v if v is not None else float("nan"))
        self.breaches.labels(p).set(f.sla_breaches)
        self.auto_answers.labels(p).set(f.auto_answers)
        self.auto_votes.labels(p, "up").set(f.auto_up)
        self.auto_votes.labels(p, "down").set(f.auto_down)
        self.escalations.labels(p).set(f.escalations)
        self.satisfaction.labels(p, "up").set(f.happy)
        self.satisfaction.labels(p, "down").set(f.unhappy)
