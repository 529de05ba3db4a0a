"""FAQ answers from the docs: passive auto-answers in the support room, !faq, !why, !retract,
!kb reload, !kb gaps, and 👍/👎 feedback.

The bot answers a customer's question by itself only when the knowledge base is confident, at
most once per thread, never after an engineer has replied in the thread, never in the staff
room, and within per-user and per-room hourly limits. Every answer is recorded so `!why` can
explain it, reactions can be tied to the question and section, and silences and 👎 become the
docs team's gap list.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from argparse import Namespace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.context import EventContext
from bot.events import Kind
from bot.html import bullet_list, code, esc
from bot.matrix import MatrixError
from bot.registry import argument, command, passive, reaction
from bot.roles import ANYWHERE, Place, Role
from commands.faq.answer import (
    answer_html,
    asker_of,
    candidates_html,
    has_words,
    nothing_html,
    person_hint,
    without_mentions,
)
from commands.faq.records import MIGRATIONS, gap, now_ms, record_answer, store_gap
from knowledge.service import KnowledgeService
from knowledge.settings import KnowledgeSettings

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

UP, DOWN = "👍", "👎"


def service(ctx: EventContext) -> KnowledgeService | None:
    kb = ctx.services.kb
    return kb if isinstance(kb, KnowledgeService) else None


# --- passive auto-answer --------------------------------------------------------------------


async def _engineer_in_thread(ctx: EventContext) -> bool:
    ev = ctx.event
    if not ev.thread_root:
        return False
    try:
        events = await ctx.matrix.thread_events(ev.room_id, ev.thread_root)
    except MatrixError:
        return True  # unsure: staying silent is the safe side
    me = ctx.matrix.user_id
    roles = ctx.services.roles
    return any(e.sender != me and roles.is_staff(e.sender) for e in events)


async def _within_limits(ctx: EventContext) -> bool:
    s = ctx.config.section("knowledge", KnowledgeSettings)
    since = now_ms(ctx) - 3_600_000
    per_user = await ctx.store.fetchval(
        "SELECT COUNT(*) FROM kb_answers WHERE mode = 'auto' AND asker = ? AND ts > ?",
        (ctx.event.sender, since),
    )
    if per_user >= s.per_user_per_hour:
        return False
    per_room = await ctx.store.fetchval(
        "SELECT COUNT(*) FROM kb_answers WHERE mode = 'auto' AND room_id = ? AND ts > ?",
        (ctx.event.room_id, since),
    )
    return int(per_room) < s.per_room_per_hour


@passive("faq auto-answer", kinds=(Kind.message,), places=(Place.support,))
async def auto_answer(ctx: EventContext) -> None:
    ev = ctx.event
    settings = ctx.config.section("knowledge", KnowledgeSettings)
    svc = service(ctx)
    if not settings.auto_answer or svc is None or svc.kb is None:
        return
    if ev.is_edit or ctx.is_staff or not ev.body.strip() or ev.msgtype not in (None, "m.text"):
        return
    if ev.backlog and now_ms(ctx) - ev.ts > settings.backlog_max_age_s * 1000:
        return
    answered = await ctx.store.fetchval(
        "SELECT COUNT(*) FROM kb_answers WHERE thread_id = ? AND mode = 'auto'", (ev.thread_id,)
    )
    if answered:
        return  # one automatic answer per thread
    question = without_mentions(ctx, ev.body)
    if not has_words(question):
        return
    decision = await svc.decide(question)
    if decision is None:
        return
    if not decision.answer or decision.best is None:
        if decision.reason.startswith("unsure") or decision.reason.startswith("nothing"):
            await gap(ctx, ev.body, "silence", decision.best)
        return
    if await _engineer_in_thread(ctx) or not await _within_limits(ctx):
        return
    asker = asker_of(ctx)
    html, plain = answer_html(decision.best, asker, await person_hint(ctx), auto=True)
    answer_id = await _answer(ctx, html, plain)
    await record_answer(ctx, answer_id, decision, "auto", ev.body)
    ctx.services.metrics.commands.labels("faq-auto", "answered").inc()


async def _answer(ctx: EventContext, html: str, plain: str) -> str:
    """Reply so that the asker, and only the asker, is notified (see commands/faq/answer.py:
    a notice would notify nobody)."""
    return await ctx.reply(html, plain, mentions=[ctx.event.sender], msgtype="m.text")


# --- commands -------------------------------------------------------------------------------


@command("faq", summary="search the Safespring docs for an answer", places=ANYWHERE)
@argument("query", nargs="+", help="your question")
async def faq_command(ctx: EventContext, args: Namespace) -> None:
    svc = service(ctx)
    if svc is None or svc.kb is None:
        await ctx.reply("The docs index is not loaded yet; try again in a minute.")
        return
    question = without_mentions(ctx, " ".join(args.query))
    if not has_words(question):  # only markup or mentions, e.g. "!faq **" or "!faq @bot"
        prefix = ctx.config.bot.command_prefix
        await ctx.reply(
            f"Usage: {code(prefix + 'faq <your question>')}, e.g. "
            f"{code(prefix + 'faq how do i resize a volume')}"
        )
        return
    decision = await svc.decide(question)
    assert decision is not None
    settings = ctx.config.section("knowledge", KnowledgeSettings)
    conf = float(decision.features.get("confidence", 0.0))
    best = decision.best
    answered = best is not None and (decision.answer or conf >= settings.min_confidence)
    asker, hint = asker_of(ctx), await person_hint(ctx)
    if answered and best is not None:
        html, plain = answer_html(best, asker, hint, auto=False)
    elif decision.hits:
        lead = (
            "I'm not sure; these parts of the docs may help:"
            if conf >= settings.unsure_confidence
            else "I'm not sure, and nothing matches well; the closest parts of the docs:"
        )
        html, plain = candidates_html(decision.hits[:3], asker, hint, lead)
    else:
        html, plain = nothing_html(asker, hint)
    answer_id = await _answer(ctx, html, plain)
    await record_answer(ctx, answer_id, decision, "faq", question)
    if not answered:  # a shown answer is not a gap in the docs
        await gap(ctx, question, "silence", best)


async def _answer_replied_to(ctx: EventContext) -> dict[str, Any] | None:
    """The recorded bot answer this command replies to (or the latest one in its thread)."""
    ev = ctx.event
    if ev.reply_to:
        row = await ctx.store.fetchone(
            "SELECT * FROM kb_answers WHERE event_id = ?", (ev.reply_to,)
        )
        if row:
            return row
    if ev.thread_root:
        return await ctx.store.fetchone(
            "SELECT * FROM kb_answers WHERE thread_id = ? AND retracted = 0 ORDER BY ts DESC "
            "LIMIT 1",
            (ev.thread_root,),
        )
    return None


@command("why", summary="explain a bot answer (reply to it)", role=Role.engineer, places=ANYWHERE)
async def why_command(ctx: EventContext, args: Namespace) -> None:
    row = await _answer_replied_to(ctx)
    if row is None:
        await ctx.reply("Reply to one of my docs answers with this command.")
        return
    details = json.loads(row["details"])
    f = details.get("features", {})
    hits = [
        f"{esc(h['path'])}{' › ' + esc(h['section']) if h.get('section') else ''}: "
        f"{float(h['score']):.2f}{' (curated)' if h.get('source') == 'faq' else ''}"
        for h in details.get("hits", [])
    ]
    nums = ", ".join(
        f"{esc(k)} {esc(v)}"
        for k, v in f.items()
        if k in ("confidence", "cover", "cover_sec", "margin", "unknown", "max_miss")
    )
    await ctx.reply(
        f"<b>Why:</b> {esc(row['reason'])}<br>Question: {esc(row['question'])}<br>"
        f"Evidence: {nums}<br>Ranking:{bullet_list(hits)}"
    )


@command(
    "retract", summary="remove a bot answer (reply to it)", role=Role.engineer, places=ANYWHERE
)
async def retract_command(ctx: EventContext, args: Namespace) -> None:
    row = await _answer_replied_to(ctx)
    if row is None or row["retracted"]:
        await ctx.reply("Reply to one of my docs answers with this command.")
        return
    await _retract(ctx, row, "retracted")
    await ctx.reply("Retracted; the question is on the gap list.")


async def _retract(ctx: EventContext, row: dict[str, Any], why: str) -> None:
    await ctx.matrix.redact(row["room_id"], row["event_id"], f"{why} by {ctx.event.sender}")
    await ctx.store.execute(
        "UPDATE kb_answers SET retracted = 1 WHERE event_id = ?", (row["event_id"],)
    )
    await store_gap(ctx, row["question"], why, row["path"], row["section"], row["room_id"])


@command("kb reload", summary="rebuild the docs index now", role=Role.admin, places=ANYWHERE)
async def kb_reload(ctx: EventContext, args: Namespace) -> None:
    svc = service(ctx)
    if svc is None:
        await ctx.reply("The knowledge base is not configured.")
        return
    t0 = time.perf_counter()
    try:
        kb = await svc.load()
    except Exception as exc:
        await ctx.reply(f"Rebuild failed, keeping the old index: {esc(exc)}")
        return
    await ctx.reply(
        f"Docs index {code(kb.fingerprint)}: {len(kb.docs)} sections, "
        f"{time.perf_counter() - t0:.1f} s."
    )


@command(
    "kb gaps", summary="questions the docs did not answer", role=Role.engineer, places=ANYWHERE
)
@argument("--limit", type=int, default=10)
async def kb_gaps(ctx: EventContext, args: Namespace) -> None:
    rows = await ctx.store.fetchall(
        "SELECT question, COUNT(*) AS n, GROUP_CONCAT(DISTINCT why) AS why FROM kb_gaps "
        "GROUP BY lower(question) ORDER BY n DESC, MAX(ts) DESC LIMIT ?",
        (max(1, min(args.limit, 50)),),
    )
    if not rows:
        await ctx.reply("No gaps recorded yet.")
        return
    items = [f"{r['n']}× {esc(r['question'])} <i>({esc(r['why'])})</i>" for r in rows]
    await ctx.reply(f"Questions the docs did not answer:{bullet_list(items)}")


# --- feedback -------------------------------------------------------------------------------


@reaction("faq feedback", keys=(UP, DOWN), role=Role.customer, places=(Place.support, Place.staff))
async def feedback(ctx: EventContext) -> None:
    ev = ctx.event
    if not ev.relates_to or not ev.key:
        return
    row = await ctx.store.fetchone("SELECT * FROM kb_answers WHERE event_id = ?", (ev.relates_to,))
    if row is None:
        return
    vote = 1 if ev.key.replace("\ufe0f", "") == UP else -1
    await ctx.store.execute(
        "INSERT OR IGNORE INTO kb_feedback (answer_event, reaction_event, sender, is_staff, vote,"
        " question, path, section, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            row["event_id"],
            ev.event_id,
            ev.sender,
            int(ctx.is_staff),
            vote,
            row["question"],
            row["path"],
            row["section"],
            now_ms(ctx),
        ),
    )
    if vote < 0:
        if ctx.is_staff and not row["retracted"]:
            await _retract(ctx, row, "thumbs down")
        elif not ctx.is_staff:
            await store_gap(
                ctx, row["question"], "thumbs down", row["path"], row["section"], row["room_id"]
            )


# --- setup ----------------------------------------------------------------------------------


async def setup(app: App) -> None:
    await app.services.store.migrate("faq", MIGRATIONS)
    settings = app.config.section("knowledge", KnowledgeSettings)
    cache = settings.cache_dir or (Path(app.data_dir) / "knowledge-cache")
    svc = KnowledgeService(settings, cache)
    app.services.kb = svc
    # Loaded before the first sync: a cached index takes well under a second, and a question
    # arriving right after start should not find the bot without its docs.
    try:
        await svc.load()
    except Exception:
        log.error("starting without the docs index; !kb reload retries")
    app.add_job("kb-watch", svc.watch)
    app.registry.include(sys.modules[__name__])
