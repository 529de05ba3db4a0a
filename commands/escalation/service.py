"""Thread <-> RT ticket: the durable outbox, the RT poller, and the messages in the thread.

Exactly one ticket per thread, even across crashes: the intent (mapping row + outbox item)
is committed before RT is called, the attempt is counted before the call, and a retry of a
create first searches RT for the thread's custom field. Outbox items run strictly in id
order; RT being down stops the pass and nothing is lost or reordered.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.context import Services
from bot.events import Event
from bot.html import esc, link
from bot.ids import matrix_to, server_of
from bot.interfaces import TicketEvent, ticket_events
from bot.matrix import MatrixError, MatrixGateway
from bot.store import Store
from commands.escalation.closing import Closing
from commands.escalation.directory import Directory, RTMetrics
from commands.escalation.outbox import Outbox
from commands.escalation.queued import QueuedNotices
from commands.escalation.relay import Relay
from commands.escalation.repository import EMAIL_RE, STATUS_LABEL, EscalateResult
from commands.escalation.rt.interface import RTClient
from commands.escalation.settings import RTSettings, Severity
from commands.escalation.thread_sync import ThreadSync
from commands.escalation.transcript import (
    thread_messages,
)

log = logging.getLogger(__name__)


class Escalation:
    def __init__(self, services: Services, settings: RTSettings, client: RTClient) -> None:
        self.services = services
        self.settings = settings
        self.rt = client
        self.directory = Directory(services)
        self.rt_user: str | None = None  # the bot's RT user name, to skip its own txns
        self.metrics = RTMetrics(services.metrics.registry)
        self.outbox = Outbox(self)
        self.queued = QueuedNotices(self)
        self.relay = Relay(self)
        self.thread_sync = ThreadSync(self)
        self.closing = Closing(self)

    def now(self) -> float:
        """The injected clock, as a Unix time (what the tables store)."""
        return self.services.clock().timestamp()

    @property
    def store(self) -> Store:
        return self.services.store

    @property
    def matrix(self) -> MatrixGateway:
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

    async def emit(self, kind: str, row: dict[str, Any], **kw: Any) -> None:
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
                    self.now(),
                ),
            )
            await tx.execute(
                "INSERT INTO rt_outbox(room_id, thread_id, kind, source_event, payload, created_at)"
                " VALUES (?,?,?,?,?,?)",
                (room_id, thread_id, "create", source_event, json.dumps(payload), self.now()),
            )
        # The outbox task talks to RT and posts the outcome (RT#n, queued, or what is wrong):
        # a slow or hanging RT must never hold up the handling of other Matrix events.
        self.outbox.wake()
        self.queued.wake()  # "queued" within 2 s if RT is down or hangs, whatever the outbox does
        self.metrics.escalations.labels("accepted").inc()
        return EscalateResult("accepted", await self.mapping(room_id, thread_id))

    # ---- commands' helpers

    async def close_ticket(
        self, row: dict[str, Any], reason: str | None, by: str, event_id: str
    ) -> str:
        """Queue the close (commands/escalation/closing.py); its state after a short wait,
        or "again" when an earlier close of the thread is still waiting for RT."""
        item_id, new = await self.closing.queue(row, reason, by, event_id)
        if not new:
            return "again"
        return await self.closing.wait(item_id)

    async def link_ticket(
        self, room_id: str, thread_id: str, ticket_id: int, by: str
    ) -> dict[str, Any]:
        s = self.settings
        ticket = await self.rt.get_ticket(ticket_id)  # RTNotFound if absent
        # A PUT of values (RT records no change for a value it has): a retry after a timeout
        # cannot double it, and RT is read first, so a retry that finds it done writes nothing.
        if (ticket.cf(s.matrix_room_field), ticket.cf(s.matrix_thread_field)) != (
            room_id,
            thread_id,
        ):
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
                self.now(),
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
        n_pending = await self.outbox.pending_count()
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
            f"{time.monotonic() - self.relay.last_poll_ok:.0f} s ago"
            if self.relay.last_poll_ok
            else "not yet since start"
        )
        html = f"RT outbox: <b>{n_pending}</b> waiting; last successful RT poll {polled}."
        if pending:
            html += "<br>Waiting (oldest first):<ul>" + "".join(map(line, pending)) + "</ul>"
        if dead:
            html += "Refused by RT (newest first):<ul>" + "".join(map(line, dead)) + "</ul>"
        return html

    def status_html(self, row: dict[str, Any], status: str) -> str:
        label = STATUS_LABEL.get(status, status)
        return f"Ticket {self.ticket_html(int(row['ticket_id']))} status: <b>{esc(label)}</b>"

    # ---- what the capability wires up and its commands call (the pieces do the work)

    async def outbox_loop(self) -> None:
        await self.outbox.outbox_loop()

    async def queued_loop(self) -> None:
        await self.queued.loop()

    async def poll_loop(self) -> None:
        await self.relay.poll_loop()

    async def webhook(self, request: web.Request) -> web.Response:
        return await self.relay.webhook(request)

    async def pending_count(self) -> int:
        return await self.outbox.pending_count()

    async def on_thread_message(self, event: Event) -> bool:
        return await self.thread_sync.on_thread_message(event)

    async def may_see_ticket(self, user_id: str, ticket_id: int) -> bool:
        return await self.thread_sync.may_see_ticket(user_id, ticket_id)

    async def expand(self, ticket_id: int) -> str | None:
        return await self.thread_sync.expand(ticket_id)
