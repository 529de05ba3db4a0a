"""Thread <-> RT ticket: the durable outbox, the RT poller, and the messages in the thread.

Exactly one ticket per thread, even across crashes: the intent (mapping row + outbox item)
is committed before RT is called, the attempt is counted before the call, and a retry of a
create first searches RT for the thread's custom field. Outbox items run strictly in id
order; RT being down stops the pass and nothing is lost or reordered.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html import unescape
from typing import Any, Literal

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge

from bot.context import Services
from bot.events import Event
from bot.html import esc, link
from bot.interfaces import TicketEvent, ticket_events
from bot.matrix import MatrixError
from bot.rt import (
    RTAuthError,
    RTClient,
    RTError,
    RTFile,
    RTNotFound,
    RTPermissionError,
    RTUnavailable,
    Transaction,
    ticketsql_quote,
)
from bot.rt_settings import RTSettings, Severity
from bot.transcript import (
    FILE_MSGTYPES,
    build_transcript,
    display_name,
    fetch_media,
    has_media,
    matrix_to,
    server_of,
    text_html,
    thread_messages,
)

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


class CrashInjected(Exception):
    """Raised by a test hook to simulate the process dying at a chosen point."""


# ----------------------------------------------------------------- who is the customer


class Directory:
    """E-mail and organisation of Matrix users, from the access registry when it has them.

    The access feature's API is duck-typed here (it lands separately): any of
    `email_of(user_id)`, `org_of(user_id)` or `member(user_id)` -> object/dict with
    `email`/`org`/`org_id` is used. Tests may set `overrides`.
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        self.overrides: dict[str, tuple[str | None, str | None]] = {}  # user -> (email, org)

    async def _member(self, user_id: str) -> Any:
        access = self.services.access
        fn = getattr(access, "member", None)
        if fn is None:
            return None
        try:
            res = fn(user_id)
            return await res if asyncio.iscoroutine(res) else res
        except Exception:
            log.exception("access.member(%s) failed", user_id)
            return None

    async def _ask(self, name: str, user_id: str, attrs: tuple[str, ...]) -> str | None:
        access = self.services.access
        fn = getattr(access, name, None)
        if fn is not None:
            try:
                res = fn(user_id)
                res = await res if asyncio.iscoroutine(res) else res
                return str(res) if res else None
            except Exception:
                log.exception("access.%s(%s) failed", name, user_id)
        member = await self._member(user_id)
        for attr in attrs:
            val = member.get(attr) if isinstance(member, dict) else getattr(member, attr, None)
            if val:
                return str(val)
        return None

    async def email_of(self, user_id: str) -> str | None:
        if user_id in self.overrides:
            return self.overrides[user_id][0]
        return await self._ask("email_of", user_id, ("email",))

    async def org_of(self, user_id: str) -> str | None:
        if user_id in self.overrides:
            return self.overrides[user_id][1]
        return await self._ask("org_of", user_id, ("org", "org_id", "organisation"))


# ----------------------------------------------------------------- the service


class RTMetrics:
    """The escalation's own series, in the bot's registry (served on /metrics)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.outbox_pending = Gauge(
            "backchannel_rt_outbox_pending", "RT writes waiting in the outbox", registry=registry
        )
        self.last_poll = Gauge(
            "backchannel_rt_last_poll_timestamp_seconds",
            "When the RT transaction poll last succeeded",
            registry=registry,
        )
        self.escalations = Counter(
            "backchannel_rt_escalations_total",
            "!ticket / reaction escalations, by outcome",
            ["outcome"],
            registry=registry,
        )
        self.outbox = Counter(
            "backchannel_rt_outbox_items_total",
            "Outbox items finished, by result (done, dead)",
            ["result"],
            registry=registry,
        )
        self.relayed = Counter(
            "backchannel_rt_relayed_total",
            "RT transactions relayed to Matrix, by type",
            ["type"],
            registry=registry,
        )


@dataclass
class EscalateResult:
    outcome: Literal["accepted", "exists", "pending", "need_requestor"]
    row: dict[str, Any] | None = None
    message: str = ""


def _now() -> float:
    return time.time()


EMAIL_RE = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")


class Escalation:
    def __init__(self, services: Services, settings: RTSettings, client: RTClient) -> None:
        self.services = services
        self.settings = settings
        self.rt = client
        self.directory = Directory(services)
        self._drain_lock = asyncio.Lock()
        self._outbox_wake = asyncio.Event()
        self._poll_wake = asyncio.Event()
        self.rt_user: str | None = None  # the bot's RT user name, to skip its own txns
        self.metrics = RTMetrics(services.metrics.registry)
        # Test hook: awaited right after RT created a ticket, before anything is recorded.
        self.fault_after_create: Callable[[int], Awaitable[None]] | None = None
        self.last_poll_ok: float = 0.0
        # Set by fault injection in tests: the outbox then behaves like a dead process.
        self.halted = False

    @property
    def store(self):  # type: ignore[no-untyped-def]
        return self.services.store

    @property
    def matrix(self):  # type: ignore[no-untyped-def]
        return self.services.matrix

    # ---- mapping

    async def mapping(self, room_id: str, thread_id: str) -> dict[str, Any] | None:
        return await self.store.fetchone(
            "SELECT * FROM rt_threads WHERE room_id=? AND thread_id=?", (room_id, thread_id)
        )

    async def mapping_by_ticket(self, ticket_id: int) -> dict[str, Any] | None:
        return await self.store.fetchone(
            "SELECT * FROM rt_threads WHERE ticket_id=?", (int(ticket_id),)
        )

    def ticket_html(self, ticket_id: int) -> str:
        return link(self.settings.ticket_link(ticket_id), f"RT#{ticket_id}")

    # ---- who may appear in the ticket

    async def customer_of_thread(self, root: Event) -> str | None:
        """The thread starter; if staff started it, the first customer who wrote in it."""
        roles = self.services.roles
        if root.sender != self.matrix.user_id and not roles.is_staff(root.sender):
            return root.sender
        try:
            messages = await thread_messages(self.matrix, root.room_id, root.event_id)
        except MatrixError:
            return None
        for msg in messages:
            sender = msg.event.sender
            if sender != self.matrix.user_id and not roles.is_staff(sender):
                return sender
        return None

    def _allowed_factory(
        self, customer: str | None, org: str | None
    ) -> Callable[[str], Awaitable[bool]]:
        async def allowed(sender: str) -> bool:
            if sender == self.matrix.user_id:
                return False  # the bot's own notices and automatic answers are not the case
            if self.services.roles.is_staff(sender):
                return True
            if customer is None:
                return False  # a staff-only thread: no customer's words belong in it
            if sender == customer:
                return True
            return org is not None and await self.directory.org_of(sender) == org

        return allowed

    # ---- escalation

    async def escalate(
        self,
        room_id: str,
        thread_id: str,
        *,
        requested_by: str,
        source_event: str,
        cutoff_ts: int,
        severity: Severity | None = None,
        subject: str | None = None,
        requestor: str | None = None,
    ) -> EscalateResult:
        row = await self.mapping(room_id, thread_id)
        if row and row["state"] != "failed":
            return EscalateResult("exists" if row["ticket_id"] else "pending", row)
        root = await self.matrix.get_event(room_id, thread_id)
        customer = await self.customer_of_thread(root)
        org = await self.directory.org_of(customer) if customer else None
        if requestor is None and customer:
            requestor = await self.directory.email_of(customer)
        if not requestor:
            return EscalateResult("need_requestor")
        if not EMAIL_RE.match(requestor):
            return EscalateResult("need_requestor", message=f"{requestor!r} is not an e-mail")
        severity = severity or self.settings.default_severity
        if not subject:
            first = (root.body or "").strip().splitlines()
            subject = first[0] if first else "Matrix support thread"
        subject = subject.strip()
        if len(subject) > 120:
            subject = subject[:117] + "..."
        payload = {
            "severity": severity,
            "subject": subject,
            "requestor": requestor,
            "customer": customer,
            "org": org,
            "cutoff_ts": cutoff_ts,
            "source_event": source_event,
        }
        async with self.store.transaction() as tx:
            existing = await tx.fetchone(
                "SELECT state FROM rt_threads WHERE room_id=? AND thread_id=?",
                (room_id, thread_id),
            )
            if existing and existing["state"] != "failed":
                return EscalateResult("pending", existing)
            if existing:  # a failed attempt (bad config) may be retried after fixing it
                await tx.execute(
                    "DELETE FROM rt_threads WHERE room_id=? AND thread_id=?", (room_id, thread_id)
                )
                await tx.execute(
                    "UPDATE rt_outbox SET state='dead' WHERE room_id=? AND thread_id=? "
                    "AND state='pending'",
                    (room_id, thread_id),
                )
            await tx.execute(
                "INSERT INTO rt_threads(room_id, thread_id, state, severity, subject, requestor,"
                " customer, org, requested_by, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    room_id,
                    thread_id,
                    "pending",
                    severity,
                    subject,
                    requestor,
                    customer,
                    org,
                    requested_by,
                    _now(),
                ),
            )
            await tx.execute(
                "INSERT INTO rt_outbox(room_id, thread_id, kind, source_event, payload, created_at)"
                " VALUES (?,?,?,?,?,?)",
                (room_id, thread_id, "create", source_event, json.dumps(payload), _now()),
            )
        # The outbox task talks to RT and posts the outcome (RT#n, queued, or what is wrong):
        # a slow or hanging RT must never hold up the handling of other Matrix events.
        self._outbox_wake.set()
        self.metrics.escalations.labels("accepted").inc()
        return EscalateResult("accepted", await self.mapping(room_id, thread_id))

    async def _tell_queued(self, row: dict[str, Any]) -> None:
        """Once per escalation: RT is down, the ticket will come."""
        event_id = await self._thread_say(
            row,
            "RT is not reachable right now. The escalation is <b>queued</b> and will be created "
            "exactly once as soon as RT is back; messages in this thread are kept for it too.",
        )
        await self.store.execute(
            "UPDATE rt_threads SET queued_event=? WHERE room_id=? AND thread_id=?",
            (event_id or "?", row["room_id"], row["thread_id"]),
        )

    # ---- thread messages after escalation

    async def on_thread_message(self, event: Event) -> bool:
        """Queue a message of an escalated thread for the ticket; True if it was taken."""
        if event.is_edit:
            return False
        row = await self.mapping(event.room_id, event.thread_id)
        if row is None or row["state"] == "failed" or event.event_id == event.thread_id:
            return False
        staff = self.services.roles.is_staff(event.sender)
        body = event.body
        if staff:
            marker = self.settings.staff_comment_marker
            if body.lower().startswith(marker.lower()):
                kind, body = "correspond", body[len(marker) :].lstrip()
            else:
                kind = "comment"
        else:
            allowed = self._allowed_factory(row["customer"], row["org"])
            if not await allowed(event.sender):
                return False
            kind = "correspond"
        payload = {
            "event_id": event.event_id,
            "sender": event.sender,
            "name": display_name(self.matrix, event.room_id, event.sender),
            "body": body,
            "msgtype": event.msgtype,
            "media": event.content if has_media(event.content) else None,
            "filename": event.content.get("filename") or event.body,
            "ts": event.ts,
        }
        try:
            await self.store.execute(
                "INSERT INTO rt_outbox(room_id, thread_id, kind, source_event, payload, created_at)"
                " VALUES (?,?,?,?,?,?)",
                (event.room_id, event.thread_id, kind, event.event_id, json.dumps(payload), _now()),
            )
        except Exception as exc:  # UNIQUE(source_event): already queued, once is enough
            if "UNIQUE" not in str(exc):
                raise
            return True
        self._outbox_wake.set()
        return True

    # ---- the outbox

    async def pending_count(self) -> int:
        n = int(await self.store.fetchval("SELECT count(*) FROM rt_outbox WHERE state='pending'"))
        self.metrics.outbox_pending.set(n)
        return n

    async def drain(self) -> bool:
        """Run pending outbox items in order; False if RT was unavailable (stopped early)."""
        async with self._drain_lock:
            if self.halted:
                return False
            items = await self.store.fetchall(
                "SELECT * FROM rt_outbox WHERE state='pending' ORDER BY id"
            )
            for item in items:
                row = await self.mapping(item["room_id"], item["thread_id"])
                if row is None or row["state"] == "failed":
                    await self._finish(item["id"], "dead", "no ticket for this thread")
                    continue
                await self.store.execute(
                    "UPDATE rt_outbox SET attempts=attempts+1 WHERE id=?", (item["id"],)
                )
                try:
                    if item["kind"] == "create":
                        await self._do_create(item, row)
                    else:
                        await self._do_message(item, row)
                except RTUnavailable as exc:
                    await self._note_error(item["id"], str(exc))
                    if item["kind"] == "create" and not row["queued_event"]:
                        await self._tell_queued(row)
                    log.warning("RT unavailable, outbox paused (%d pending): %s", len(items), exc)
                    return False
                except RTError as exc:
                    await self._permanent_failure(item, row, exc)
                except (CrashInjected, MatrixError) as exc:
                    # Unknown outcome / cannot build the message now: keep it, retry later.
                    await self._note_error(item["id"], f"{type(exc).__name__}: {exc}")
                    log.warning("outbox item %s postponed: %s", item["id"], exc)
                    return False
            await self._post_missing_replies()
            await self.pending_count()
            return True

    async def _note_error(self, item_id: int, error: str) -> None:
        await self.store.execute(
            "UPDATE rt_outbox SET last_error=? WHERE id=?", (error[:500], item_id)
        )

    async def _finish(
        self, item_id: int, state: str, error: str | None = None, txn: int | None = None
    ) -> None:
        await self.store.execute(
            "UPDATE rt_outbox SET state=?, last_error=?, txn_id=?, done_at=? WHERE id=?",
            (state, error, txn, _now(), item_id),
        )
        self.metrics.outbox.labels(state).inc()

    def _setting_for(self, exc: RTError) -> str:
        text = str(exc).lower()
        if isinstance(exc, RTAuthError):
            return "[rt] token / token_file"
        if "queue" in text:
            return "[rt] queue"
        if "custom field" in text or "customfield" in text:
            return "[rt] matrix_room_field / matrix_thread_field"
        if isinstance(exc, RTPermissionError):
            return "[rt] queue (the bot's rights on it)"
        return "[rt]"

    async def _permanent_failure(
        self, item: dict[str, Any], row: dict[str, Any], exc: RTError
    ) -> None:
        setting = self._setting_for(exc)
        log.error(
            "RT refused outbox item %s (%s): %s; check %s", item["id"], item["kind"], exc, setting
        )
        await self._finish(item["id"], "dead", str(exc)[:500])
        where = matrix_to(row["room_id"], row["thread_id"], server_of(self.matrix.user_id))
        if item["kind"] == "create":
            await self.store.execute(
                "UPDATE rt_threads SET state='failed' WHERE room_id=? AND thread_id=?",
                (row["room_id"], row["thread_id"]),
            )
            await self._thread_say(
                row,
                "I could not create the RT ticket: RT refused it "
                f"(<code>{esc(exc)}</code>). The bot's configuration needs fixing "
                f"(<code>{esc(setting)}</code>); the team has been told. "
                "Run <code>!ticket</code> again once it is fixed.",
            )
        await self.services.tell_staff(
            f'RT refused {esc(item["kind"])} for <a href="{esc(where)}">a thread</a>: '
            f"<code>{esc(exc)}</code> — check <code>{esc(setting)}</code>."
        )

    async def _thread_say(self, row: dict[str, Any], html: str, **kw: Any) -> str | None:
        try:
            return await self.matrix.send(row["room_id"], html, thread_root=row["thread_id"], **kw)
        except MatrixError:
            log.exception("could not post in thread %s", row["thread_id"])
            return None

    async def _do_create(self, item: dict[str, Any], row: dict[str, Any]) -> None:
        p = json.loads(item["payload"])
        s = self.settings
        ticket_id: int | None = None
        if item["attempts"] > 0:
            # An earlier attempt may have reached RT (crash, timeout): find it, never repeat it.
            found = await self.rt.find_by_custom_field(
                s.matrix_thread_field, row["thread_id"], queue=s.queue
            )
            if found:
                ticket_id = min(t.id for t in found)
                log.info("reconciled thread %s with existing RT#%d", row["thread_id"], ticket_id)
        if ticket_id is None:
            allowed = self._allowed_factory(p.get("customer"), p.get("org"))
            tr = await build_transcript(
                self.matrix,
                row["room_id"],
                row["thread_id"],
                allowed=allowed,
                cutoff_ts=p["cutoff_ts"],
                exclude={p["source_event"]},
            )
            fields = {
                s.matrix_room_field: row["room_id"],
                s.matrix_thread_field: row["thread_id"],
            }
            priority = s.severity_priority.for_severity(p["severity"])
            subject = f"[{p['severity']}] {p['subject']}"
            if s.transcript_as == "correspondence":
                ticket_id = await self.rt.create_ticket(
                    queue=s.queue,
                    subject=subject,
                    requestor=p["requestor"],
                    html=tr.html,
                    text=tr.text,
                    priority=priority,
                    custom_fields=fields,
                    attachments=tr.files,
                )
            else:
                thread = matrix_to(row["room_id"], row["thread_id"], server_of(self.matrix.user_id))
                ticket_id = await self.rt.create_ticket(
                    queue=s.queue,
                    subject=subject,
                    requestor=p["requestor"],
                    text=f"Escalated from Matrix: {thread}\n(The transcript is in a comment.)",
                    priority=priority,
                    custom_fields=fields,
                )
            if self.fault_after_create is not None:
                await self.fault_after_create(ticket_id)
            if s.transcript_as == "comment":
                txn = await self.rt.comment(
                    ticket_id,
                    html=tr.html,
                    attachments=[
                        RTFile(
                            filename="transcript.txt",
                            content_type="text/plain",
                            data=tr.text.encode(),
                        ),
                        *tr.files,
                    ],
                )
                await self.store.execute("INSERT OR IGNORE INTO rt_own_txns VALUES (?)", (txn,))
        async with self.store.transaction() as tx:
            await tx.execute(
                "UPDATE rt_threads SET state='created', ticket_id=? WHERE room_id=? AND thread_id=?",
                (ticket_id, row["room_id"], row["thread_id"]),
            )
            await tx.execute(
                "UPDATE rt_outbox SET state='done', done_at=? WHERE id=?", (_now(), item["id"])
            )
        self.metrics.outbox.labels("done").inc()
        await self._emit("escalated", row, ticket_id=ticket_id)
        await self._post_missing_replies()

    def created_html(self, row: dict[str, Any]) -> str:
        tid = int(row["ticket_id"])
        sev = row["severity"]
        prio = self.settings.severity_priority.for_severity(sev)
        html = (
            f"🎫 Escalated to {self.ticket_html(tid)} (severity {esc(sev)}, RT priority {prio}).<br>"
            f"Subject: {esc(row['subject'])}<br>"
            "What happens next: an engineer picks the ticket up in RT; their replies appear "
            f"here in this thread and are also e-mailed to the requester. New messages in this thread "
            "are added to the ticket."
        )
        if sev == "P1":
            html += f"<br><b>P1:</b> {esc(self.settings.p1_notice)}"
        return html

    async def _post_missing_replies(self) -> None:
        rows = await self.store.fetchall(
            "SELECT * FROM rt_threads WHERE state='created' AND reply_event IS NULL"
        )
        for row in rows:
            event_id = await self._thread_say(row, self.created_html(row))
            if event_id:
                await self.store.execute(
                    "UPDATE rt_threads SET reply_event=? WHERE room_id=? AND thread_id=?",
                    (event_id, row["room_id"], row["thread_id"]),
                )

    async def _already_sent(self, ticket_id: int, event_id: str) -> int | None:
        """After an unknown outcome: did RT get this Matrix message already? (its event id
        is in every message the bot writes)."""
        query = (
            f"ObjectType = 'RT::Ticket' AND ObjectId = {int(ticket_id)}"
            " AND (Type = 'Correspond' OR Type = 'Comment')"
        )
        if self.rt_user:
            query += f" AND Creator = {ticketsql_quote(self.rt_user)}"
        params = {
            "query": query,
            "fields": "Type",
            "orderby": "id",
            "order": "DESC",
            "per_page": 20,
        }
        body = await self.rt._get("/transactions", params)
        for item in (body or {}).get("items", []):
            for part in await self.rt.transaction_content(int(item["id"])):
                if event_id in part.content:
                    return int(item["id"])
        return None

    async def _do_message(self, item: dict[str, Any], row: dict[str, Any]) -> None:
        p = json.loads(item["payload"])
        ticket_id = row["ticket_id"]
        if ticket_id is None:
            raise RTUnavailable("ticket not created yet")  # keeps order: wait for the create
        if item["attempts"] > 0:
            txn = await self._already_sent(ticket_id, p["event_id"])
            if txn:
                await self._finish(item["id"], "done", txn=txn)
                return
        files: list[RTFile] = []
        body = p["body"]
        if p.get("media") and p.get("msgtype") in FILE_MSGTYPES:
            media = await fetch_media(self.matrix, p["media"])
            fname = str(p.get("filename") or "file")
            files.append(RTFile(filename=fname, content_type=media.content_type, data=media.data))
            body = f"[attached: {fname}]"
        ev_link = matrix_to(row["room_id"], p["event_id"], server_of(self.matrix.user_id))
        html = (
            f"<p><b>{esc(p['name'])}</b> ({esc(p['sender'])}) on Matrix:</p>"
            f"<blockquote>{text_html(body)}</blockquote>"
            f'<p><small><a href="{esc(ev_link)}">{esc(p["event_id"])}</a></small></p>'
        )
        send = self.rt.correspond if item["kind"] == "correspond" else self.rt.comment
        txn = await send(ticket_id, html=html, attachments=files)
        async with self.store.transaction() as tx:
            await tx.execute("INSERT OR IGNORE INTO rt_own_txns VALUES (?)", (txn,))
            await tx.execute(
                "UPDATE rt_outbox SET state='done', txn_id=?, done_at=? WHERE id=?",
                (txn, _now(), item["id"]),
            )
        self.metrics.outbox.labels("done").inc()

    async def outbox_loop(self) -> None:
        await self._startup()
        while True:
            # Clear before looking: a wake-up set during the drain must not be lost.
            self._outbox_wake.clear()
            # Always drain: it also re-posts RT#n replies a homeserver hiccup swallowed.
            ok = await self.drain()
            await self.store.execute(
                "DELETE FROM rt_outbox WHERE state='done' AND done_at < ?",
                (_now() - OUTBOX_KEEP_DAYS * 86400,),
            )
            timeout = self.settings.outbox_retry_seconds if not ok else 60.0
            try:
                await asyncio.wait_for(self._outbox_wake.wait(), timeout)
            except TimeoutError:
                pass

    async def _startup(self) -> None:
        try:
            self.rt_user = await self.rt.whoami()
            problems = await self.rt.check_online()
        except RTError as exc:
            problems = [f"RT not usable at start: {exc}"]
        for problem in problems:
            log.error("RT configuration: %s", problem)
        if problems:
            await self.services.tell_staff(
                "RT escalation has a problem: "
                + "; ".join(f"<code>{esc(p)}</code>" for p in problems)
            )

    # ---- RT -> Matrix

    async def poll_once(self) -> int:
        """One TransactionSQL query for the whole queue; returns how many txns were handled."""
        hw_s = await self.store.fetchval("SELECT value FROM rt_kv WHERE key='high_water'")
        if hw_s is None:
            hw = await self.rt.latest_transaction_id(self.settings.queue)
            await self._set_hw(hw)
            self.last_poll_ok = time.monotonic()
            return 0
        hw = int(hw_s)
        if self.rt_user is None:
            self.rt_user = await self.rt.whoami()
        txns = await self.rt.transactions_since(
            self.settings.queue, hw, exclude_creator=self.rt_user
        )
        for txn in txns:
            own = await self.store.fetchval("SELECT 1 FROM rt_own_txns WHERE txn_id=?", (txn.id,))
            if not own:
                row = await self.mapping_by_ticket(txn.object_id)
                if row is not None:
                    await self._relay(txn, row)
                    self.metrics.relayed.labels(txn.type).inc()
            await self._set_hw(txn.id)
        self.last_poll_ok = time.monotonic()
        self.metrics.last_poll.set(time.time())
        if txns:
            # The poll never asks for ids at or below the mark again: those ids are done.
            await self.store.execute("DELETE FROM rt_own_txns WHERE txn_id <= ?", (txns[-1].id,))
        return len(txns)

    async def _set_hw(self, value: int) -> None:
        await self.store.execute(
            "INSERT INTO rt_kv(key, value) VALUES ('high_water', ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (str(value),),
        )

    async def _creator_name(self, creator: str) -> str:
        if "@" in creator:
            return creator
        try:
            info = await self.rt.user(creator)
            return str(info.get("RealName") or creator)
        except RTError:
            return creator

    async def _relay(self, txn: Transaction, row: dict[str, Any]) -> None:
        tid = int(row["ticket_id"])
        if txn.type == "Status":
            await self.set_status(row, txn.new_value)
            return
        if txn.type == "Correspond":
            target_room, thread = row["room_id"], row["thread_id"]
            await self._emit("correspondence", row, by=txn.creator)
        elif txn.type == "Comment" and self.settings.comments_to_staff_room:
            target_room, thread = self.services.config.rooms.staff, None
        else:
            return  # comments are internal: never into the support room
        parts = await self.rt.transaction_content(txn.id)
        text = next(
            (p.content for p in parts if p.is_body and p.content_type == "text/plain"), None
        )
        if text is None:
            html_part = next((p.content for p in parts if p.is_body), "")
            text = unescape(re.sub(r"<[^>]+>", "", re.sub(r"<br\s*/?>|</p>", "\n", html_part)))
        text = text.strip()
        who = await self._creator_name(txn.creator)
        kind = "replied" if txn.type == "Correspond" else "commented (internal)"
        html = (
            f"💬 <b>{esc(who)}</b> {kind} on {self.ticket_html(tid)}:<br>"
            f"<blockquote>{text_html(text)}</blockquote>"
        )
        if text:
            await self.matrix.send(target_room, html, thread_root=thread)
        for part in parts:
            if part.is_file:
                data = await self.rt.attachment_bytes(part.id)
                msgtype = "m.image" if part.content_type.startswith("image/") else "m.file"
                content: dict[str, Any] = {
                    "msgtype": msgtype,
                    "body": part.filename,
                    "info": {"mimetype": part.content_type, "size": len(data)},
                    "m.mentions": {},
                }
                if self.matrix.is_encrypted(target_room):
                    # The file as well as the message stays end-to-end encrypted.
                    cipher, keys = await asyncio.to_thread(self.matrix.encrypt_media, data)
                    mxc = await self.matrix.upload(
                        cipher, "application/octet-stream", part.filename
                    )
                    content["file"] = {"url": mxc, **keys}
                else:
                    content["url"] = await self.matrix.upload(
                        data, part.content_type, part.filename
                    )
                if thread:
                    content["m.relates_to"] = {
                        "rel_type": "m.thread",
                        "event_id": thread,
                        "is_falling_back": True,
                        "m.in_reply_to": {"event_id": thread},
                    }
                await self.matrix.send_raw(target_room, "m.room.message", content)

    def status_html(self, row: dict[str, Any], status: str) -> str:
        label = STATUS_LABEL.get(status, status)
        return f"Ticket {self.ticket_html(int(row['ticket_id']))} status: <b>{esc(label)}</b>"

    async def set_status(self, row: dict[str, Any], status: str) -> None:
        """One status message per thread, edited in place."""
        html = self.status_html(row, status)
        if row.get("status_event"):
            await self.matrix.edit(row["room_id"], row["status_event"], html)
            event_id = row["status_event"]
        else:
            event_id = await self.matrix.send(row["room_id"], html, thread_root=row["thread_id"])
        await self.store.execute(
            "UPDATE rt_threads SET status_event=?, rt_status=? WHERE room_id=? AND thread_id=?",
            (event_id, status, row["room_id"], row["thread_id"]),
        )
        row["status_event"], row["rt_status"] = event_id, status
        await self._emit("status", row, status=status)

    async def _emit(self, kind: str, row: dict[str, Any], **kw: Any) -> None:
        """Tell other capabilities (support: SLA timers, board, survey) about the ticket."""
        await ticket_events(self.services).emit(
            TicketEvent.model_validate(
                {
                    "kind": kind,
                    "room_id": row["room_id"],
                    "thread_id": row["thread_id"],
                    "ticket_id": row.get("ticket_id"),
                    "severity": row.get("severity"),
                    "org": row.get("org"),
                    "customer": row.get("customer"),
                    "requestor": row.get("requestor"),
                    **kw,
                }
            )
        )

    async def poll_loop(self) -> None:
        while True:
            self._poll_wake.clear()
            try:
                await self.poll_once()
            except RTError as exc:
                log.warning("RT poll failed: %s", exc)
            except MatrixError as exc:
                log.warning("posting RT activity failed (will retry): %s", exc)
            try:
                await asyncio.wait_for(self._poll_wake.wait(), self.settings.poll_interval_seconds)
            except TimeoutError:
                pass

    def poll_soon(self) -> None:
        self._poll_wake.set()

    async def webhook(self, request: web.Request) -> web.Response:
        """Optional RT scrip hook: only a hint to poll soon; the data comes from the poll.

        RT calls it inside its own request, before its DB commit, so the answer goes out
        first and the poll runs a moment later (measured: fetching at once gets a 500).
        """
        loop = asyncio.get_running_loop()
        loop.call_later(WEBHOOK_POLL_DELAY_S, self._poll_wake.set)
        return web.Response(status=202, text="ok")

    # ---- commands' helpers

    async def close_ticket(self, row: dict[str, Any], reason: str | None, by: str) -> None:
        tid = int(row["ticket_id"])
        if reason:
            txn = await self.rt.comment(tid, text=f"Closed from Matrix by {by}: {reason}")
            await self.store.execute("INSERT OR IGNORE INTO rt_own_txns VALUES (?)", (txn,))
        await self.rt.update_ticket(tid, {"Status": "resolved"})
        await self.set_status(row, "resolved")

    async def link_ticket(
        self, room_id: str, thread_id: str, ticket_id: int, by: str
    ) -> dict[str, Any]:
        s = self.settings
        ticket = await self.rt.get_ticket(ticket_id)  # RTNotFound if absent
        await self.rt.update_ticket(
            ticket_id,
            {"CustomFields": {s.matrix_room_field: room_id, s.matrix_thread_field: thread_id}},
        )
        root = await self.matrix.get_event(room_id, thread_id)
        customer = await self.customer_of_thread(root)
        org = await self.directory.org_of(customer) if customer else None
        await self.store.execute(
            "INSERT INTO rt_threads(room_id, thread_id, ticket_id, state, severity, subject,"
            " requestor, customer, org, requested_by, reply_event, rt_status, created_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                room_id,
                thread_id,
                ticket_id,
                "created",
                s.default_severity,
                ticket.subject,
                ticket.requestors[0] if ticket.requestors else None,
                customer,
                org,
                by,
                "linked",
                ticket.status,
                _now(),
            ),
        )
        row = await self.mapping(room_id, thread_id)
        assert row is not None
        return row

    async def outbox_report(self, limit: int = 5) -> str:
        """For staff: what is waiting for RT, what RT refused, when the poll last worked."""
        via = server_of(self.matrix.user_id)
        pending = await self.store.fetchall(
            "SELECT * FROM rt_outbox WHERE state='pending' ORDER BY id LIMIT ?", (limit,)
        )
        n_pending = await self.pending_count()
        dead = await self.store.fetchall(
            "SELECT * FROM rt_outbox WHERE state='dead' ORDER BY id DESC LIMIT ?", (limit,)
        )

        def line(item: dict[str, Any]) -> str:
            where = matrix_to(item["room_id"], item["thread_id"], via)
            err = f": <code>{esc(item['last_error'])}</code>" if item["last_error"] else ""
            return (
                f"<li>#{item['id']} {esc(item['kind'])} for "
                f'<a href="{esc(where)}">a thread</a>, {item["attempts"]} attempt(s){err}</li>'
            )

        polled = (
            f"{time.monotonic() - self.last_poll_ok:.0f} s ago"
            if self.last_poll_ok
            else "not yet since start"
        )
        html = f"RT outbox: <b>{n_pending}</b> waiting; last successful RT poll {polled}."
        if pending:
            html += "<br>Waiting (oldest first):<ul>" + "".join(map(line, pending)) + "</ul>"
        if dead:
            html += "Refused by RT (newest first):<ul>" + "".join(map(line, dead)) + "</ul>"
        return html

    async def may_see_ticket(self, user_id: str, ticket_id: int) -> bool:
        """RT#n expansion: staff, or a member of the organisation that owns the ticket."""
        if self.services.roles.is_staff(user_id):
            return True
        row = await self.mapping_by_ticket(ticket_id)
        if row is None:
            return False
        if row["customer"] == user_id:
            return True
        org = await self.directory.org_of(user_id)
        return org is not None and org == row["org"]

    async def expand(self, ticket_id: int) -> str | None:
        try:
            t = await self.rt.get_ticket(ticket_id)
        except (RTNotFound, RTPermissionError):
            return None
        return (
            f"{self.ticket_html(ticket_id)}: {esc(t.subject)} — "
            f"<b>{esc(STATUS_LABEL.get(t.status, t.status))}</b>"
        )
