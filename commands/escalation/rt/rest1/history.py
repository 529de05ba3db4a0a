"""REST 1.0 ticket histories: transaction ids, one transaction in full, its parts and bytes.

REST 1.0 addresses a transaction and an attachment only through its ticket, so every id read
here is remembered with its ticket (`_txn_ticket`, `_att_ticket`).
"""

from __future__ import annotations

import re

import aiohttp

from commands.escalation.rt.errors import RTAuthError, RTNotFound, RTRejected, RTUnavailable
from commands.escalation.rt.models import Attachment, Transaction
from commands.escalation.rt.rest1.session import Rest1Session
from commands.escalation.rt.rest1_form import parse_answer, parse_rt_date

_HISTORY_LINE_RE = re.compile(r"^(\d+): (.*)$")
_ATTACHMENT_LINE_RE = re.compile(r"^\s*(\d+): (.*?) \(([^()]*)\)\s*,?$")


class Rest1History(Rest1Session):
    """Reading what happened on a ticket."""

    async def _history(self, ticket_id: int, kind: str | None = None) -> list[tuple[int, str]]:
        """(txn id, description) of a ticket's visible transactions, ascending."""
        path = f"ticket/{int(ticket_id)}/history" + (f"/type/{kind}" if kind else "")
        ans = await self._get(f"history of ticket {ticket_id}", path)
        out = []
        for line in ans.payload.split("\n"):
            m = _HISTORY_LINE_RE.match(line)
            if m:
                out.append((int(m.group(1)), m.group(2)))
        out.sort()
        for txn, _ in out:
            self._txn_ticket[txn] = int(ticket_id)
        return out

    async def _history_ids(
        self, ticket_id: int, *, kind: str | None = None, creator: str | None = None
    ) -> list[int]:
        suffix = f" by {creator}" if creator else ""
        return [t for t, d in await self._history(ticket_id, kind) if d.endswith(suffix)]

    async def recent_messages_by(
        self, ticket_id: int, creator: str | None, limit: int = 20
    ) -> list[int]:
        ids: list[int] = []
        for kind in ("Correspond", "Comment"):
            ids += await self._history_ids(ticket_id, kind=kind, creator=creator)
        return sorted(ids, reverse=True)[:limit]

    async def _transaction(self, ticket_id: int, txn_id: int) -> Transaction | None:
        """One transaction in full; None for one RT hides from the bot (Permission Denied)."""
        ans = await self._get(
            f"transaction {txn_id}", f"ticket/{int(ticket_id)}/history/id/{int(txn_id)}"
        )
        recs = ans.records()
        if not recs:
            return None
        r = recs[0]
        if not r.get("Type") or r.get("Description") == "Permission Denied":
            return None
        self._txn_ticket[txn_id] = int(ticket_id)
        return Transaction(
            id=int(r.get("id") or txn_id),
            Type=r.get("Type", ""),
            Creator=r.get("Creator", ""),
            Created=parse_rt_date(r.get("Created")),
            ObjectType="RT::Ticket",
            ObjectId=int(r.get("Ticket") or ticket_id),
            Field=r.get("Field", ""),
            OldValue=r.get("OldValue", ""),
            NewValue=r.get("NewValue", ""),
            Data=r.get("Data", ""),
        )

    async def _ticket_of_txn(self, txn_id: int) -> int:
        if txn_id in self._txn_ticket:
            return self._txn_ticket[txn_id]
        ans = await self._get(
            f"transaction {txn_id}", f"transaction/{int(txn_id)}", {"format": "l"}
        )
        recs = ans.records()
        if not recs or not (recs[0].get("Ticket") or "").isdigit():
            raise RTNotFound(f"RT transaction {txn_id}: not found", status=404)
        self._txn_ticket[txn_id] = int(recs[0]["Ticket"])
        return self._txn_ticket[txn_id]

    async def transaction_content(self, txn_id: int) -> list[Attachment]:
        """The MIME parts of a transaction: bodies as text, files by name (leaf parts only)."""
        tid = await self._ticket_of_txn(txn_id)
        ans = await self._get(f"transaction {txn_id}", f"ticket/{tid}/history/id/{int(txn_id)}")
        recs = ans.records()
        listing = recs[0].get("Attachments", "") if recs else ""
        parts: list[Attachment] = []
        for line in listing.split("\n"):
            m = _ATTACHMENT_LINE_RE.match(line)
            if not m:
                continue
            aid = int(m.group(1))
            self._att_ticket[aid] = tid
            meta_ans = await self._get(f"attachment {aid}", f"ticket/{tid}/attachments/{aid}")
            meta = (meta_ans.records() or [{}])[0]
            ctype = (meta.get("ContentType") or "").split(";")[0].strip().lower()
            if ctype.startswith("multipart/"):
                continue
            filename = meta.get("Filename") or ""
            content = ""
            if not filename and ctype.startswith("text/"):
                content = (await self.attachment_bytes(aid)).decode("utf-8", "replace")
            parts.append(Attachment(id=aid, ContentType=ctype, Filename=filename, Content=content))
        return parts

    async def attachment_bytes(self, attachment_id: int) -> bytes:
        """A part's exact bytes (`.../content` is byte-exact after its status line)."""
        tid = self._att_ticket.get(int(attachment_id))
        if tid is None:
            raise RTNotFound(
                f"RT attachment {attachment_id}: unknown ticket (REST 1.0 reads attachments"
                " through their ticket; read transaction_content first)"
            )
        if not self._logged_in:
            await self.login()
        for attempt in range(2):
            self.requests += 1
            raw = await self._raw_get(f"ticket/{tid}/attachments/{int(attachment_id)}/content")
            head, sep, rest = raw.partition(b"\n\n")
            ans = parse_answer(head.decode("utf-8", "replace") + "\n")
            if ans.code == 401 and attempt == 0:
                self._logged_in = False
                await self.login()
                continue
            if ans.code != 200:
                raise RTRejected(f"RT attachment {attachment_id}: {ans.code} {ans.reason}")
            if not sep:
                return b""
            if rest.startswith(b"# ") and b"does not exist" in rest[:200]:
                raise RTNotFound(f"RT attachment {attachment_id}: {rest[:200]!r}", status=404)
            return rest
        raise RTAuthError(f"RT attachment {attachment_id}: login rejected", status=401)

    async def _raw_get(self, path: str) -> bytes:
        try:
            async with self.session.get(f"{self.base}/{path}", allow_redirects=False) as resp:
                return await resp.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise RTUnavailable(f"RT GET {path}: {type(exc).__name__} {exc}") from exc
