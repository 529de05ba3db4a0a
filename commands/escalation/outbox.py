"""The durable outbox: Matrix -> RT writes, strictly in order, exactly once across crashes."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from bot.html import esc
from bot.ids import matrix_to, server_of
from bot.matrix import MatrixError
from bot.txn import caused_by
from commands.escalation.part import Part
from commands.escalation.reconcile import NotSettled, Reconciler
from commands.escalation.repository import OUTBOX_KEEP_DAYS
from commands.escalation.rt.rest2 import (
    RTAuthError,
    RTError,
    RTFile,
    RTPermissionError,
    RTUnavailable,
)
from commands.escalation.transcript import (
    FILE_MSGTYPES,
    build_transcript,
    fetch_media,
    text_html,
)

if TYPE_CHECKING:
    from commands.escalation.service import Escalation

log = logging.getLogger(__name__)


class Outbox(Part):
    def __init__(self, esc: Escalation) -> None:
        super().__init__(esc)
        self._drain_lock = asyncio.Lock()
        self._outbox_wake = asyncio.Event()
        self.reconcile = Reconciler(esc.settings.reconcile_settle_seconds)
        # When an RT call last failed (wall time), None after a good one: a thread whose create
        # was queued before that failure is told "queued" at once.
        self.rt_failed_at: float | None = None
        self._retry_at: float | None = None  # monotonic: a settling item wants another look
        self._startup_task: asyncio.Task[None] | None = None

    # ---- the outbox

    def wake(self) -> None:
        """Run a drain soon (new intent committed)."""
        self._outbox_wake.set()

    async def pending_count(self) -> int:
        n = int(await self.store.fetchval("SELECT count(*) FROM rt_outbox WHERE state='pending'"))
        self.metrics.outbox_pending.set(n)
        return n

    async def drain(self) -> bool:
        """Run pending outbox items in order; False if RT was unavailable (stopped early)."""
        async with self._drain_lock:
            items = await self.store.fetchall(
                "SELECT * FROM rt_outbox WHERE state='pending' ORDER BY id"
            )
            waiting: set[tuple[str, str]] = set()  # threads whose earlier item must settle
            for item in items:
                if (item["room_id"], item["thread_id"]) in waiting:
                    continue  # keeps each thread's order; other threads go on
                row = await self.esc.mapping(item["room_id"], item["thread_id"])
                if row is None or row["state"] == "failed":
                    await self._finish(item["id"], "dead", "no ticket for this thread")
                    continue
                self.reconcile.first_sight(item["id"], item["attempts"])
                await self.store.execute(
                    "UPDATE rt_outbox SET attempts=attempts+1 WHERE id=?", (item["id"],)
                )
                # The item is the cause of its sends: a retry (or a restart) sends the same
                # transaction ids again, which Synapse drops as repeats (bot/txn.py). The
                # "failed" notice is another message: a cause of its own (the "queued"
                # notice has its own txn id, commands/escalation/queued.py).
                with caused_by(f"outbox:{item['id']}:{item['kind']}", replay=True):
                    try:
                        if item["kind"] == "create":
                            await self._do_create(item, row)
                        elif item["kind"] == "close":
                            await self.esc.closing.run(item, row)
                        else:
                            await self._do_message(item, row)
                        self.rt_failed_at = None
                    except NotSettled as exc:
                        self.rt_failed_at = None
                        waiting.add((item["room_id"], item["thread_id"]))
                        self._retry_at = min(self._retry_at or exc.retry_at, exc.retry_at)
                        await self._note_error(item["id"], str(exc))
                    except RTUnavailable as exc:
                        self.rt_failed_at = self.now()
                        self.esc.queued.wake()
                        self.reconcile.failed(item["id"], exc)
                        await self._note_error(item["id"], str(exc))
                        log.warning(
                            "RT unavailable, outbox paused (%d pending): %s", len(items), exc
                        )
                        return False
                    except RTError as exc:
                        self.reconcile.forget(item["id"])
                        with caused_by(f"outbox:{item['id']}:failed", replay=True):
                            await self._permanent_failure(item, row, exc)
                    except MatrixError as exc:
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
            (state, error, txn, self.now(), item_id),
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
            await self.thread_say(
                row,
                "I could not create the RT ticket: RT refused it "
                f"(<code>{esc(exc)}</code>). The bot's configuration needs fixing "
                f"(<code>{esc(setting)}</code>); the team has been told. "
                "Run <code>!ticket</code> again once it is fixed.",
            )
        elif item["kind"] == "close":
            await self.esc.closing.refused(item, row, exc)
        await self.services.tell_staff(
            f'RT refused {esc(item["kind"])} for <a href="{esc(where)}">a thread</a>: '
            f"<code>{esc(exc)}</code> — check <code>{esc(setting)}</code>."
        )

    async def thread_say(self, row: dict[str, Any], html: str, **kw: Any) -> str | None:
        try:
            return await self.matrix.send(row["room_id"], html, thread_root=row["thread_id"], **kw)
        except MatrixError:
            log.exception("could not post in thread %s", row["thread_id"])
            return None

    async def _do_create(self, item: dict[str, Any], row: dict[str, Any]) -> None:
        p = json.loads(item["payload"])
        s = self.settings
        ticket_id: int | None = None
        # An earlier attempt may have reached RT (crash, timeout): find it, never repeat it.
        found = await self.reconcile.find(item["id"], lambda: self._ticket_of(row))
        if found is not None:
            ticket_id = found
            log.info("reconciled thread %s with existing RT#%d", row["thread_id"], ticket_id)
        if ticket_id is None:
            allowed = self.esc._allowed_factory(p.get("customer"), p.get("org"))
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
        self.reconcile.forget(item["id"])
        async with self.store.transaction() as tx:
            await tx.execute(
                "UPDATE rt_threads SET state='created', ticket_id=? WHERE room_id=? AND thread_id=?",
                (ticket_id, row["room_id"], row["thread_id"]),
            )
            await tx.execute(
                "UPDATE rt_outbox SET state='done', done_at=? WHERE id=?", (self.now(), item["id"])
            )
        self.metrics.outbox.labels("done").inc()
        await self.esc.emit("escalated", row, ticket_id=ticket_id)
        await self._post_missing_replies()

    async def _ticket_of(self, row: dict[str, Any]) -> int | None:
        """The oldest ticket RT has for the thread (its Matrix Thread custom field), if any."""
        s = self.settings
        found = await self.rt.find_by_custom_field(
            s.matrix_thread_field, row["thread_id"], queue=s.queue
        )
        return min(t.id for t in found) if found else None

    def created_html(self, row: dict[str, Any]) -> str:
        tid = int(row["ticket_id"])
        sev = row["severity"]
        prio = self.settings.severity_priority.for_severity(sev)
        html = (
            f"🎫 Escalated to {self.esc.ticket_html(tid)} (severity {esc(sev)}, RT priority {prio}).<br>"
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
            # Its own cause, whichever drain posts it (after the create, or a later one after
            # a crash or a refused send): a repeat carries the same transaction id.
            key = f"rt-created:{row['room_id']}:{row['thread_id']}:{row['ticket_id']}"
            with caused_by(key, replay=True):
                event_id = await self.thread_say(row, self.created_html(row))
            if event_id:
                await self.store.execute(
                    "UPDATE rt_threads SET reply_event=? WHERE room_id=? AND thread_id=?",
                    (event_id, row["room_id"], row["thread_id"]),
                )

    async def _already_sent(self, ticket_id: int, event_id: str) -> int | None:
        """After an unknown outcome: did RT get this Matrix message already? (its event id
        is in every message the bot writes)."""
        for txn_id in await self.rt.recent_messages_by(ticket_id, self.esc.rt_user, limit=20):
            for part in await self.rt.transaction_content(txn_id):
                if event_id in part.content:
                    return txn_id
        return None

    async def _do_message(self, item: dict[str, Any], row: dict[str, Any]) -> None:
        p = json.loads(item["payload"])
        ticket_id = row["ticket_id"]
        if ticket_id is None:
            raise RTUnavailable("ticket not created yet")  # keeps order: wait for the create
        # An earlier attempt may have reached RT: find the message by its event id first.
        txn = await self.reconcile.find(
            item["id"], lambda: self._already_sent(ticket_id, p["event_id"])
        )
        if txn:
            self.reconcile.forget(item["id"])
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
        self.reconcile.forget(item["id"])
        async with self.store.transaction() as tx:
            await tx.execute("INSERT OR IGNORE INTO rt_own_txns VALUES (?)", (txn,))
            await tx.execute(
                "UPDATE rt_outbox SET state='done', txn_id=?, done_at=? WHERE id=?",
                (txn, self.now(), item["id"]),
            )
        self.metrics.outbox.labels("done").inc()

    async def outbox_loop(self) -> None:
        # The start-up checks run beside the drain: an RT that is down or hung at start must
        # not hold up the first drain (nor the queued notices).
        self._startup_task = asyncio.create_task(self._startup(), name="rt-startup-checks")
        try:
            await self._loop()
        finally:
            self._startup_task.cancel()

    async def _loop(self) -> None:
        while True:
            # Clear before looking: a wake-up set during the drain must not be lost.
            self._outbox_wake.clear()
            # Always drain: it also re-posts RT#n replies a homeserver hiccup swallowed.
            ok = await self.drain()
            await self.store.execute(
                "DELETE FROM rt_outbox WHERE state='done' AND done_at < ?",
                (self.now() - OUTBOX_KEEP_DAYS * 86400,),
            )
            timeout = self.settings.outbox_retry_seconds if not ok else 60.0
            if self._retry_at is not None:
                timeout = min(timeout, max(0.05, self._retry_at - time.monotonic()))
                self._retry_at = None
            try:
                await asyncio.wait_for(self._outbox_wake.wait(), timeout)
            except TimeoutError:
                pass

    async def _startup(self) -> None:
        try:
            self.esc.rt_user = await self.rt.whoami()
            problems = await self.rt.check_online()
        except RTError as exc:
            problems = [f"RT not usable at start: {exc}"]
        for problem in problems:
            log.error("RT configuration: %s", problem)
        if problems:
            with caused_by(f"rt-startup:{self.now():.0f}"):  # once per start, never replayed
                await self.services.tell_staff(
                    "RT escalation has a problem: "
                    + "; ".join(f"<code>{esc(p)}</code>" for p in problems)
                )
