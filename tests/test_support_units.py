"""Pure parts of support operations: SLA plans by severity and tier, card and incident HTML."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from commands.support.calendar import SupportCalendar
from commands.support.report import p50_p90
from commands.support.repository import CardRow, SurveyRow
from commands.support.satisfaction import counts, vote_of
from commands.support.settings import SupportSettings
from commands.support.sla import SLAPolicy
from commands.support.statuspage import asks_if_down, incident_html, parse_webhook
from commands.support.triage import card_html
from tests import statuspage_payloads as sp

STO = ZoneInfo("Europe/Stockholm")
settings = SupportSettings()
policy = SLAPolicy(settings, SupportCalendar(settings))


def test_p1_counts_around_the_clock_others_in_staffed_time() -> None:
    friday_night = datetime(2026, 6, 12, 22, 0, tzinfo=STO)
    p1 = policy.plan(friday_night, "P1", "standard")
    assert p1.around_the_clock and p1.due_at == friday_night + timedelta(minutes=30)
    assert p1.warn_at == friday_night + timedelta(minutes=24)
    premium = policy.plan(friday_night, "P1", "premium")
    assert premium.due_at == friday_night + timedelta(minutes=15)
    p2 = policy.plan(friday_night, "P2", "premium")  # 120 staffed minutes from Monday 08:00
    assert p2.due_at == datetime(2026, 6, 15, 10, 0, tzinfo=STO)
    unknown_tier = policy.plan(friday_night, "P3", "gold")  # falls back to standard
    assert unknown_tier.target_s == 480 * 60
    thread = policy.plan(friday_night)
    assert thread.due_at == datetime(2026, 6, 15, 9, 0, tzinfo=STO)


def test_card_and_incident_html_escape_user_text() -> None:
    card = CardRow(
        room_id="!r",
        thread_id="$t",
        due_at=0,
        started_at=0,
        summary='<img src=x onerror="alert(1)"> disk full',
        customer="@evil<b>:example.org",
        claimed_by="@eng:example.org",
        ticket_id=42,
        severity="P2",
    )
    html = card_html(card, thread_url="https://matrix.to/#/x", when="Monday", ticket_url=None)
    assert "<img" not in html and "&lt;img" in html and "<b>:" not in html
    assert "RT#42" in html and "claimed by @eng:example.org" in html
    inc = parse_webhook(
        json.dumps(sp.incident_webhook(name="<script>alert(1)</script>")).encode()
    ).incident  # type: ignore[union-attr]
    out = incident_html(inc, "https://status.safespring.com")
    assert "<script>" not in out and "&lt;script&gt;" in out


def test_outage_questions() -> None:
    words = settings.statuspage.down_words
    assert asks_if_down("Is S3 down?", words)
    assert asks_if_down("fungerar inte compute i sto2?", words)
    assert not asks_if_down("S3 is down", words)  # a statement, not a question
    assert not asks_if_down("what is the status of my ticket?", words)


def test_survey_votes_count_only_for_the_customers_org() -> None:
    row = SurveyRow(ticket_id=1, room_id="!r", thread_id="$t", org="org-a", asked_at=0)
    assert counts(row, "@colleague:x", "org-a") and not counts(row, "@other:x", "org-b")
    no_org = row.model_copy(update={"org": None, "customer": "@c:x"})
    assert counts(no_org, "@c:x", None) and not counts(no_org, "@d:x", None)
    assert vote_of("👍") == 1 and vote_of("👎\ufe0f") == -1 and vote_of("🎉") is None


def test_percentiles() -> None:
    assert p50_p90([]) == (None, None)
    assert p50_p90([60.0]) == (60.0, 60.0)
    assert p50_p90([600.0, 1800.0]) == (1200.0, 1680.0)


async def test_a_survey_recorded_but_not_posted_is_posted_on_the_next_ask(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A crash between recording the question and posting it: the next ask posts it (with the
    same cause-derived transaction id), and once it is posted no ask posts again."""
    from datetime import UTC, datetime

    from bot.store import Store
    from commands.support.repository import MIGRATIONS
    from commands.support.satisfaction import Surveys

    store = await Store.open(tmp_path / "s.sqlite3")
    try:
        await store.migrate("support", MIGRATIONS)
        surveys = Surveys(store)
        posts: list[str] = []

        async def dies() -> str:
            raise RuntimeError("killed before the send")

        async def post() -> str:
            posts.append("q")
            return f"$q{len(posts)}"

        ask = {
            "ticket_id": 7,
            "room_id": "!r",
            "thread_id": "$t",
            "org": None,
            "customer": "@c:x",
            "at": datetime(2026, 1, 5, 10, tzinfo=UTC),
        }
        try:
            await surveys.ask(**ask, post=dies)
        except RuntimeError:
            pass
        assert await surveys.ask(**ask, post=post) == "$q1"
        assert await surveys.ask(**ask, post=post) is None
        assert posts == ["q"]
    finally:
        await store.close()
