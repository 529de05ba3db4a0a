"""Support tables (SQLite via store.migrate) and their row models."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

MIGRATIONS = [
    """
    CREATE TABLE support_threads (
      room_id TEXT NOT NULL,
      thread_id TEXT NOT NULL,
      customer TEXT NOT NULL,
      started_at REAL NOT NULL,          -- UTC epoch seconds, from the app clock
      staffed_at_start INTEGER NOT NULL, -- support was staffed when it started
      first_response_at REAL,
      first_response_by TEXT,
      first_response_how TEXT,           -- reply | reaction | rt
      ooh_event TEXT,                    -- the out-of-hours reply, once per thread
      status_hint_event TEXT,            -- the "there is an incident" reply, once per thread
      PRIMARY KEY (room_id, thread_id)
    );
    CREATE INDEX support_threads_started ON support_threads(started_at);
    CREATE TABLE support_timers (
      room_id TEXT NOT NULL,
      thread_id TEXT NOT NULL,
      kind TEXT NOT NULL,                -- thread | ticket
      severity TEXT,
      tier TEXT,
      ticket_id INTEGER,
      target_s REAL NOT NULL,
      around_the_clock INTEGER NOT NULL,
      started_at REAL NOT NULL,
      warn_at REAL NOT NULL,
      due_at REAL NOT NULL,
      state TEXT NOT NULL DEFAULT 'running',   -- running | stopped
      warned INTEGER NOT NULL DEFAULT 0,
      breached INTEGER NOT NULL DEFAULT 0,
      stopped_at REAL,
      response_s REAL,                   -- first response, in counted (staffed) seconds
      PRIMARY KEY (room_id, thread_id)
    );
    CREATE INDEX support_timers_due ON support_timers(state, warn_at, due_at);
    CREATE TABLE support_cards (
      room_id TEXT NOT NULL,
      thread_id TEXT NOT NULL,
      card_event TEXT UNIQUE,            -- the card in the staff room, once posted
      due_at REAL NOT NULL,              -- post no earlier (threads answered at once get none)
      state TEXT NOT NULL DEFAULT 'waiting',   -- waiting | answered | resolved | skipped
      summary TEXT NOT NULL DEFAULT '',
      customer TEXT NOT NULL DEFAULT '',
      started_at REAL NOT NULL,
      claimed_by TEXT,
      answered_by TEXT,
      ticket_id INTEGER,
      severity TEXT,
      PRIMARY KEY (room_id, thread_id)
    );
    CREATE INDEX support_cards_due ON support_cards(card_event, due_at);
    CREATE TABLE support_surveys (
      ticket_id INTEGER PRIMARY KEY,
      room_id TEXT NOT NULL,
      thread_id TEXT NOT NULL,
      org TEXT,
      customer TEXT,
      question_event TEXT UNIQUE,
      vote INTEGER,                      -- +1 / -1, the latest from the customer's organisation
      voter TEXT,
      asked_at REAL NOT NULL,
      voted_at REAL
    );
    CREATE TABLE support_escalations (
      ticket_id INTEGER PRIMARY KEY,
      room_id TEXT NOT NULL,
      thread_id TEXT NOT NULL,
      severity TEXT,
      org TEXT,
      at REAL NOT NULL
    );
    CREATE TABLE support_incidents (
      incident_id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      status TEXT NOT NULL,
      impact TEXT NOT NULL DEFAULT 'none',
      shortlink TEXT,
      updated_at TEXT NOT NULL,
      message_event TEXT,
      resolved INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE support_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)
    """,
]


class ThreadRow(BaseModel):
    room_id: str
    thread_id: str
    customer: str
    started_at: float
    staffed_at_start: bool
    first_response_at: float | None = None
    first_response_by: str | None = None
    first_response_how: str | None = None
    ooh_event: str | None = None
    status_hint_event: str | None = None


class TimerRow(BaseModel):
    room_id: str
    thread_id: str
    kind: Literal["thread", "ticket"]
    severity: str | None = None
    tier: str | None = None
    ticket_id: int | None = None
    target_s: float
    around_the_clock: bool
    started_at: float
    warn_at: float
    due_at: float
    state: Literal["running", "stopped"] = "running"
    warned: bool = False
    breached: bool = False
    stopped_at: float | None = None
    response_s: float | None = None


class CardRow(BaseModel):
    room_id: str
    thread_id: str
    card_event: str | None = None
    due_at: float
    state: Literal["waiting", "answered", "resolved", "skipped"] = "waiting"
    summary: str = ""
    customer: str = ""
    started_at: float
    claimed_by: str | None = None
    answered_by: str | None = None
    ticket_id: int | None = None
    severity: str | None = None


class SurveyRow(BaseModel):
    ticket_id: int
    room_id: str
    thread_id: str
    org: str | None = None
    customer: str | None = None
    question_event: str | None = None
    vote: int | None = None
    voter: str | None = None
    asked_at: float
    voted_at: float | None = None


class IncidentRow(BaseModel):
    incident_id: str
    name: str
    status: str
    impact: str = "none"
    shortlink: str | None = None
    updated_at: str
    message_event: str | None = None
    resolved: bool = False


def row(model: type[BaseModel], data: dict[str, Any] | None) -> Any:
    return None if data is None else model.model_validate(data)
