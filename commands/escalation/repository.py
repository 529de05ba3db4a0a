"""The escalation tables (migrations) and the constants their rows use."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Literal

log = logging.getLogger(__name__)


MIGRATIONS = [
    """
    CREATE TABLE rt_threads (
      room_id TEXT NOT NULL,
      thread_id TEXT NOT NULL,
      ticket_id INTEGER,
      state TEXT NOT NULL,
      severity TEXT NOT NULL,
      subject TEXT NOT NULL DEFAULT '',
      requestor TEXT,
      customer TEXT,
      org TEXT,
      requested_by TEXT NOT NULL,
      queued_event TEXT,
      reply_event TEXT,
      status_event TEXT,
      rt_status TEXT,
      created_at REAL NOT NULL,
      PRIMARY KEY (room_id, thread_id)
    );
    CREATE UNIQUE INDEX rt_threads_ticket ON rt_threads(ticket_id) WHERE ticket_id IS NOT NULL;
    CREATE TABLE rt_outbox (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      room_id TEXT NOT NULL,
      thread_id TEXT NOT NULL,
      kind TEXT NOT NULL,
      source_event TEXT UNIQUE,
      payload TEXT NOT NULL,
      state TEXT NOT NULL DEFAULT 'pending',
      attempts INTEGER NOT NULL DEFAULT 0,
      last_error TEXT,
      txn_id INTEGER,
      created_at REAL NOT NULL,
      done_at REAL
    );
    CREATE INDEX rt_outbox_state ON rt_outbox(state, id);
    CREATE TABLE rt_own_txns (txn_id INTEGER PRIMARY KEY);
    CREATE TABLE rt_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)
    """,
]

WEBHOOK_POLL_DELAY_S = 0.3
OUTBOX_KEEP_DAYS = 90  # finished items are kept this long (what went to RT, and when)
RT_REF_RE = re.compile(r"\bRT#(\d{1,9})\b", re.IGNORECASE)
STATUS_LABEL = {
    "new": "new (not yet picked up)",
    "open": "open (being worked on)",
    "stalled": "stalled (waiting)",
    "resolved": "resolved",
    "rejected": "rejected",
    "deleted": "deleted",
}


@dataclass
class EscalateResult:
    outcome: Literal["accepted", "exists", "pending", "need_requestor"]
    row: dict[str, Any] | None = None
    message: str = ""


EMAIL_RE = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
