"""What the FAQ capability stores: every answer it gave (for `!why`, feedback and limits),
feedback votes, and the gap list (questions the docs did not answer)."""

from __future__ import annotations

import json

from bot.context import EventContext
from bot.secrets import WITHHELD, scan_text
from knowledge.index import Decision, Hit

MIGRATIONS = [
    """
    CREATE TABLE kb_answers (
        event_id TEXT PRIMARY KEY,       -- the bot's answer
        room_id TEXT NOT NULL,
        thread_id TEXT NOT NULL,
        question_event TEXT NOT NULL,
        question TEXT NOT NULL,
        asker TEXT NOT NULL,
        mode TEXT NOT NULL,              -- 'auto' | 'faq'
        path TEXT, section TEXT, url TEXT,
        confidence REAL, reason TEXT,
        details TEXT NOT NULL,           -- JSON: features and the top hits
        ts INTEGER NOT NULL,
        retracted INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX kb_answers_thread ON kb_answers (thread_id, mode);
    CREATE INDEX kb_answers_ts ON kb_answers (ts);
    CREATE TABLE kb_feedback (
        id INTEGER PRIMARY KEY,
        answer_event TEXT NOT NULL,
        reaction_event TEXT NOT NULL UNIQUE,
        sender TEXT NOT NULL,
        is_staff INTEGER NOT NULL,
        vote INTEGER NOT NULL,           -- +1 / -1
        question TEXT NOT NULL,
        path TEXT, section TEXT,
        ts INTEGER NOT NULL
    );
    CREATE TABLE kb_gaps (
        id INTEGER PRIMARY KEY,
        question TEXT NOT NULL,
        why TEXT NOT NULL,               -- 'silence' | 'thumbs down' | 'retracted'
        path TEXT, section TEXT,
        room_id TEXT,
        ts INTEGER NOT NULL
    )
    """,
]


def now_ms(ctx: EventContext) -> int:
    return int(ctx.services.clock().timestamp() * 1000)


async def record_answer(
    ctx: EventContext, answer_id: str, decision: Decision, mode: str, question: str
) -> None:
    best = decision.best
    if await scan_text(question, ctx.event.body):  # never kept, even with the protection off
        question = WITHHELD
    details = {
        "features": decision.features,
        "hits": [
            {"path": h.path, "section": h.section, "score": h.score, "source": h.source}
            for h in decision.hits[:5]
        ],
    }
    ev = ctx.event
    await ctx.store.execute(
        "INSERT INTO kb_answers (event_id, room_id, thread_id, question_event, question, asker,"
        " mode, path, section, url, confidence, reason, details, ts)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            answer_id,
            ev.room_id,
            ev.thread_id,
            ev.event_id,
            question,
            ev.sender,
            mode,
            best.path if best else None,
            best.section if best else None,
            best.url if best else None,
            float(decision.features.get("confidence", 0.0)),
            decision.reason,
            json.dumps(details),
            now_ms(ctx),
        ),
    )


async def gap(ctx: EventContext, question: str, why: str, hit: Hit | None = None) -> None:
    await store_gap(
        ctx,
        question,
        why,
        hit.path if hit else None,
        hit.section if hit else None,
        ctx.event.room_id,
    )


async def store_gap(
    ctx: EventContext,
    question: str,
    why: str,
    path: str | None,
    section: str | None,
    room_id: str,
) -> None:
    """One row for `!kb gaps`: a question the docs did not answer (silence or 👎)."""
    # The event's own text too: `!faq` joins its words, and a secret found by its line layout
    # (a YAML `token:` line) is no longer found in the joined question.
    if await scan_text(question, ctx.event.body):
        return  # a question carrying a credential is never kept, whatever moderation says
    await ctx.store.execute(
        "INSERT INTO kb_gaps (question, why, path, section, room_id, ts) VALUES (?, ?, ?, ?, ?, ?)",
        (question, why, path, section, room_id, now_ms(ctx)),
    )
