"""REST 1.0 tickets: create, show, edit, correspond/comment, and the ticket searches.

Every form is built by `compose_form()` (rest1_form), which indents each continuation line:
an unindented `Status: resolved` line in chat text would otherwise become a field. Creates
and messages return no transaction id: it is read back from the ticket's history.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal
from urllib.parse import quote

from commands.escalation.rt.errors import RTNotFound, RTPermissionError, RTRejected
from commands.escalation.rt.models import (
    CustomFieldValue,
    RTFile,
    Ticket,
    TicketSummary,
    cf_keyword,
    ticketsql_quote,
)
from commands.escalation.rt.rest1.history import Rest1History
from commands.escalation.rt.rest1_form import compose_form, one_line, parse_rt_date, safe_filename

log = logging.getLogger(__name__)

_CREATED_RE = re.compile(r"^# Ticket (\d+) created\.", re.MULTILINE)


class Rest1Tickets(Rest1History):
    """The ticket operations of the RTClient interface."""

    async def user(self, name_or_id: str | int) -> dict[str, Any]:
        ans = await self._get("user", f"user/{quote(str(name_or_id), safe='@')}")
        recs = ans.records()
        if not recs or not recs[0].get("Name"):
            raise RTNotFound(f"RT user {name_or_id!r}: not found", status=404)
        return dict(recs[0])

    async def create_ticket(
        self,
        *,
        queue: str,
        subject: str,
        requestor: str | None = None,
        html: str | None = None,
        text: str | None = None,
        priority: int | None = None,
        custom_fields: Mapping[str, str] | None = None,
        attachments: Iterable[RTFile] = (),
    ) -> int:
        files = list(attachments)
        fields: list[tuple[str, object]] = [("id", "ticket/new"), ("Queue", queue)]
        if requestor:
            if re.search(r"[,\"'<>\s]", requestor):
                # RT splits the value as a list: one address only, never a second one.
                raise RTRejected(f"RT create: requestor {requestor!r} is not one e-mail address")
            fields.append(("Requestor", requestor))
        fields.append(("Subject", subject))
        if priority is not None:
            fields.append(("Priority", int(priority)))
        for name, value in (custom_fields or {}).items():
            fields.append((f"CF.{{{one_line(name)}}}", value))
        body = html if html is not None else text
        if html is not None:
            fields.append(("Content-Type", "text/html"))
            if text:
                # The plain-text transcript rides along as a file, stored byte for byte.
                files.insert(
                    0,
                    RTFile(
                        filename="transcript.txt", content_type="text/plain", data=text.encode()
                    ),
                )
        if files:
            fields.append(("Attachment", ", ".join(safe_filename(f.filename) for f in files)))
        content = compose_form(fields, {"Text": body} if body else None)
        ans = await self._call("POST", "ticket/new", content=content, files=files)
        if ans.code == 200:
            m = _CREATED_RE.search(ans.payload)
            if m:
                ticket_id = int(m.group(1))
                # A bad CF name still creates the ticket, with a "# Invalid custom field" line.
                warn = [c for c in ans.comments if not c.startswith("Ticket ")]
                if warn:
                    log.warning("RT create %d: %s", ticket_id, "; ".join(warn))
                return ticket_id
            comments = ans.comments
            if any(
                "queue" in c.lower() and ("not set" in c.lower() or "permission" in c.lower())
                for c in comments
            ):
                raise RTPermissionError(
                    f"RT create in queue {queue!r}: {'; '.join(comments)} (the queue does not"
                    " exist or the bot lacks CreateTicket there)",
                    status=403,
                    messages=comments,
                )
        self._raise_for("create", ans)
        raise RTRejected(f"RT create: no ticket id in answer {ans.payload[:300]!r}")

    async def get_ticket(self, ticket_id: int) -> Ticket:
        ans = await self._get(f"show ticket {ticket_id}", f"ticket/{int(ticket_id)}/show")
        recs = ans.records()
        if not recs or not recs[0].get("id", "").startswith("ticket/"):
            raise RTNotFound(f"RT ticket {ticket_id}: not found", status=404)
        r = recs[0]
        cfs = [
            CustomFieldValue(id="", name=k[4:-1], values=[r[k]] if r[k] else [])
            for k in r
            if k.startswith("CF.{") and k.endswith("}")
        ]
        return Ticket(
            id=int(r["id"].split("/", 1)[1]),
            Subject=r.get("Subject", ""),
            Status=r.get("Status", ""),
            Priority=int(r.get("Priority") or 0),
            Queue=r.get("Queue", ""),
            Owner=r.get("Owner", ""),
            Creator=r.get("Creator", ""),
            Requestor=[x.strip() for x in r.get("Requestors", "").split(",") if x.strip()],
            Created=parse_rt_date(r.get("Created")),
            LastUpdated=parse_rt_date(r.get("LastUpdated")),
            CustomFields=cfs,
        )

    async def update_ticket(self, ticket_id: int, fields: Mapping[str, Any]) -> list[str]:
        """The REST 2.0 field names (Status, Owner, Subject, Priority, CustomFields={..})."""
        form: list[tuple[str, object]] = []
        for key, value in fields.items():
            if key == "CustomFields":
                for name, v in dict(value).items():
                    form.append((f"CF.{{{one_line(name)}}}", v))
            elif key in ("Status", "Owner", "Subject", "Priority", "Queue", "Due"):
                form.append((key, value))
            else:
                raise ValueError(f"REST 1.0 update: unsupported field {key!r}")
        if not form:
            return []
        ans = await self._call(
            "POST", f"ticket/{int(ticket_id)}/edit", content=compose_form(form), idempotent=True
        )
        # An empty answer is RT's "nothing to change" (e.g. resolving a resolved ticket).
        return self._raise_for(f"update ticket {ticket_id}", ans, allow_empty=True).comments

    async def resolve(self, ticket_id: int) -> list[str]:
        return await self.update_ticket(ticket_id, {"Status": "resolved"})

    async def set_owner(self, ticket_id: int, owner: str) -> list[str]:
        return await self.update_ticket(ticket_id, {"Owner": owner})

    async def _post_message(
        self,
        action: Literal["correspond", "comment"],
        ticket_id: int,
        html: str | None,
        text: str | None,
        attachments: Iterable[RTFile],
        extra: Mapping[str, Any] | None,
    ) -> int:
        files = list(attachments)
        fields: list[tuple[str, object]] = [("id", int(ticket_id)), ("Action", action)]
        for key, value in (extra or {}).items():
            if key not in ("Status", "TimeWorked"):
                # Never Cc/Bcc from a caller's dict: those mail people.
                raise ValueError(f"REST 1.0 {action}: unsupported extra field {key!r}")
            fields.append((key, value))
        body = html if html is not None else text
        if html is not None:
            fields.append(("Content-Type", "text/html"))
        if files:
            fields.append(("Attachment", ", ".join(safe_filename(f.filename) for f in files)))
        content = compose_form(fields, {"Text": body} if body else None)
        ans = await self._call(
            "POST", f"ticket/{int(ticket_id)}/comment", content=content, files=files
        )
        self._raise_for(f"{action} on ticket {ticket_id}", ans)
        if not any(c.startswith(("Comments added", "Correspondence added")) for c in ans.comments):
            raise RTRejected(f"RT {action} on ticket {ticket_id}: {ans.payload.strip()[:300]!r}")
        # REST 1.0 does not say which transaction it made: the bot's newest of that type.
        kind = "Correspond" if action == "correspond" else "Comment"
        ids = await self._history_ids(ticket_id, kind=kind, creator=self.username)
        if not ids:
            raise RTRejected(f"RT {action} on ticket {ticket_id}: no transaction in history")
        self._txn_ticket[ids[-1]] = int(ticket_id)
        return ids[-1]

    async def correspond(
        self,
        ticket_id: int,
        *,
        html: str | None = None,
        text: str | None = None,
        attachments: Iterable[RTFile] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> int:
        return await self._post_message("correspond", ticket_id, html, text, attachments, extra)

    async def comment(
        self,
        ticket_id: int,
        *,
        html: str | None = None,
        text: str | None = None,
        attachments: Iterable[RTFile] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> int:
        return await self._post_message("comment", ticket_id, html, text, attachments, extra)

    async def search_tickets(
        self, query: str, fields: str = "Subject,Status,Queue"
    ) -> list[TicketSummary]:
        ans = await self._get(
            "search",
            "search/ticket",
            {"query": query, "format": "l", "fields": fields, "orderby": "id"},
        )
        if ans.payload.strip() == "No matching results.":
            return []
        out = []
        for r in ans.records():
            if not r.get("id", "").startswith("ticket/"):
                continue
            out.append(
                TicketSummary(
                    id=int(r["id"].split("/", 1)[1]),
                    Subject=r.get("Subject", ""),
                    Status=r.get("Status", ""),
                    Queue=r.get("Queue", ""),
                )
            )
        return sorted(out, key=lambda t: t.id)

    async def _search_ids(self, query: str, orderby: str = "id") -> list[int]:
        ans = await self._get(
            "search", "search/ticket", {"query": query, "format": "i", "orderby": orderby}
        )
        ids = []
        for line in ans.payload.split("\n"):
            if line.startswith("ticket/") and line[7:].strip().isdigit():
                ids.append(int(line[7:]))
        return ids

    async def find_by_custom_field(
        self, field_name: str, value: str, queue: str | None = None
    ) -> list[TicketSummary]:
        query = f"{cf_keyword(field_name)} = {ticketsql_quote(value)}"
        if queue:
            query = f"Queue = {ticketsql_quote(queue)} AND {query}"
        return await self.search_tickets(query)
