"""Async client for Request Tracker 5's REST 2.0 API (the subset the bot needs).

Facts this relies on were measured on a real RT 5.0.3 (../shared/notes/rt5-for-tests.md):
- some failures come back as 200/201 with the error only in the message list;
- `total`/`pages` are null for non-superusers, so pages are read until a short one;
- `Location` headers are relative and carry the id of the created ticket / transaction;
- `fields=Parent` on attachments is a server bug (500): never requested.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from commands.escalation.rt.errors import (
    RTAuthError,
    RTError,
    RTNotFound,
    RTPermissionError,
    RTRejected,
    RTUnavailable,
)
from commands.escalation.rt.models import (
    MAX_PAGES,
    PER_PAGE,
    Attachment,
    CustomFieldValue,
    RTFile,
    RTRef,
    SearchPage,
    Ticket,
    TicketSummary,
    Transaction,
    cf_keyword,
    ticketsql_quote,
)
from commands.escalation.rt.transport import RestTransport, failures_in, messages_in
from commands.escalation.settings import RTSettings

log = logging.getLogger(__name__)

# Callers import the RT vocabulary from here, as before the split.
__all__ = [
    "MAX_PAGES",
    "PER_PAGE",
    "Attachment",
    "CustomFieldValue",
    "RTAuthError",
    "RTClient",
    "RTError",
    "RTFile",
    "RTNotFound",
    "RTPermissionError",
    "RTRef",
    "RTRejected",
    "RTUnavailable",
    "SearchPage",
    "Ticket",
    "TicketSummary",
    "Transaction",
    "cf_keyword",
    "check_online",
    "failures_in",
    "ticketsql_quote",
]


class RTClient(RestTransport):
    """The ticket API the bot uses, over RT's REST 2.0."""

    api = "rest2"

    async def version(self) -> str:
        body = await self._get("/rt")
        return str((body or {}).get("Version", ""))

    async def ping(self) -> bool:
        try:
            await self.version()
        except RTError:
            return False
        return True

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
        """The new ticket's id. `requestor` (singular) is what triggers RT's AutoReply."""
        files = list(attachments)
        payload: dict[str, Any] = {"Queue": queue, "Subject": subject}
        if requestor:
            payload["Requestor"] = requestor
        if html is not None:
            payload["Content"], payload["ContentType"] = html, "text/html"
            if text:
                # REST 2.0 takes one body; the plain-text alternative rides along as a file.
                files.insert(
                    0,
                    RTFile(
                        filename="transcript.txt", content_type="text/plain", data=text.encode()
                    ),
                )
        elif text is not None:
            payload["Content"], payload["ContentType"] = text, "text/plain"
        if priority is not None:
            payload["Priority"] = priority
        if custom_fields:
            payload["CustomFields"] = dict(custom_fields)
        if files:
            payload["Attachments"] = [f.as_json() for f in files]
        _, headers, body = await self._request("POST", "/ticket", json=payload)
        ticket_id = self._location_id(headers, "ticket")
        if ticket_id is None and isinstance(body, dict) and str(body.get("id", "")).isdigit():
            ticket_id = int(body["id"])
        if ticket_id is None:
            raise RTRejected(
                f"RT create: no ticket id in answer {body!r}", messages=messages_in(body)
            )
        return ticket_id

    async def get_ticket(self, ticket_id: int) -> Ticket:
        return Ticket.model_validate(await self._get(f"/ticket/{int(ticket_id)}"))

    async def update_ticket(self, ticket_id: int, fields: Mapping[str, Any]) -> list[str]:
        """PUT fields (e.g. {"Status": "resolved"}); RT reports failures inside a 200."""
        _, _, body = await self._request("PUT", f"/ticket/{int(ticket_id)}", json=dict(fields))
        return self._check_messages(f"update ticket {ticket_id}", body)

    async def resolve(self, ticket_id: int) -> list[str]:
        return await self.update_ticket(ticket_id, {"Status": "resolved"})

    async def set_owner(self, ticket_id: int, owner: str) -> list[str]:
        return await self.update_ticket(ticket_id, {"Owner": owner})

    async def recent_messages_by(
        self, ticket_id: int, creator: str | None, limit: int = 20
    ) -> list[int]:
        """Ids of the newest Correspond/Comment txns of a ticket (by `creator`), newest first."""
        query = (
            f"ObjectType = 'RT::Ticket' AND ObjectId = {int(ticket_id)}"
            " AND (Type = 'Correspond' OR Type = 'Comment')"
        )
        if creator:
            query += f" AND Creator = {ticketsql_quote(creator)}"
        params = {"query": query, "fields": "Type", "orderby": "id", "order": "DESC"}
        body = await self._get("/transactions", {**params, "per_page": int(limit)})
        return [int(i["id"]) for i in SearchPage.model_validate(body).items][:limit]

    async def _post_message(
        self,
        kind: Literal["correspond", "comment"],
        ticket_id: int,
        html: str | None,
        text: str | None,
        attachments: Iterable[RTFile],
        extra: Mapping[str, Any] | None,
    ) -> int:
        payload: dict[str, Any] = dict(extra or {})
        if html is not None:
            payload["Content"], payload["ContentType"] = html, "text/html"
        elif text is not None:
            payload["Content"], payload["ContentType"] = text, "text/plain"
        files = [f.as_json() for f in attachments]
        if files:
            payload["Attachments"] = files
        _, headers, body = await self._request(
            "POST", f"/ticket/{int(ticket_id)}/{kind}", json=payload
        )
        self._check_messages(f"{kind} on ticket {ticket_id}", body)
        txn = self._location_id(headers, "transaction")
        if txn is None:
            raise RTRejected(f"RT {kind} on ticket {ticket_id}: no transaction in answer {body!r}")
        return txn

    async def correspond(
        self,
        ticket_id: int,
        *,
        html: str | None = None,
        text: str | None = None,
        attachments: Iterable[RTFile] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> int:
        """A reply the requestor sees (mailed); returns the transaction id (to skip echoes)."""
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
        """An internal note; returns the transaction id."""
        return await self._post_message("comment", ticket_id, html, text, attachments, extra)

    async def search_tickets(
        self, query: str, fields: str = "Subject,Status,Queue"
    ) -> list[TicketSummary]:
        """All tickets matching a TicketSQL query built with `ticketsql_quote`."""
        params = {"query": query, "fields": fields, "orderby": "id", "order": "ASC"}
        return [TicketSummary.model_validate(i) async for i in self._paged("/tickets", params)]

    async def find_by_custom_field(
        self, field_name: str, value: str, queue: str | None = None
    ) -> list[TicketSummary]:
        query = f"{cf_keyword(field_name)} = {ticketsql_quote(value)}"
        if queue:
            query = f"Queue = {ticketsql_quote(queue)} AND {query}"
        return await self.search_tickets(query)

    async def transactions_since(
        self,
        queue: str,
        high_water: int,
        exclude_creator: str | None = None,
        types: Iterable[str] = ("Correspond", "Comment", "Status"),
    ) -> list[Transaction]:
        """New ticket transactions of the whole queue with id > high_water, ascending.

        Ids are global and monotonic, so one stored high-water mark covers every ticket;
        one query per poll regardless of how many tickets are open.
        """
        type_q = " OR ".join(f"Type = {ticketsql_quote(t)}" for t in types)
        query = (
            f"ObjectType = 'RT::Ticket' AND TicketQueue = {ticketsql_quote(queue)}"
            f" AND id > {int(high_water)} AND ({type_q})"
        )
        if exclude_creator:
            query += f" AND Creator != {ticketsql_quote(exclude_creator)}"
        params = {
            "query": query,
            "fields": "Type,Creator,Created,ObjectType,ObjectId,Field,OldValue,NewValue,Data",
            "orderby": "id",
            "order": "ASC",
        }
        return [Transaction.model_validate(i) async for i in self._paged("/transactions", params)]

    async def transaction_content(self, txn_id: int) -> list[Attachment]:
        """The MIME parts of a transaction (bodies decoded, files by name)."""
        params = {"fields": "Content,ContentType,Filename"}  # never Parent: RT 500s
        return [
            Attachment.model_validate(i)
            async for i in self._paged(f"/transaction/{int(txn_id)}/attachments", params)
        ]

    async def attachment_bytes(self, attachment_id: int) -> bytes:
        """A file's exact bytes (the single-record endpoint returns base64)."""
        body = await self._get(f"/attachment/{int(attachment_id)}")
        return base64.b64decode((body or {}).get("Content") or b"")

    async def latest_transaction_id(self, queue: str) -> int:
        """The newest ticket transaction id in the queue: a first poller start begins here
        instead of replaying the queue's whole history into Matrix."""
        query = f"ObjectType = 'RT::Ticket' AND TicketQueue = {ticketsql_quote(queue)} AND id > 0"
        body = await self._get(
            "/transactions",
            {"query": query, "orderby": "id", "order": "DESC", "per_page": 1, "fields": "Type"},
        )
        items = SearchPage.model_validate(body).items
        return int(items[0]["id"]) if items else 0

    async def user(self, name_or_id: str | int) -> dict[str, Any]:
        from urllib.parse import quote

        return dict(await self._get(f"/user/{quote(str(name_or_id), safe='@')}"))

    async def whoami(self) -> str:
        """The RT user name the token belongs to (token format 1-<user id>-<hex>)."""
        parts = self._token.split("-")
        if len(parts) < 3 or not parts[1].isdigit():
            raise RTAuthError("the [rt] token is not in RT's 1-<uid>-<hex> format")
        return str((await self.user(int(parts[1]))).get("Name") or "")

    async def queue_info(self, queue: str) -> dict[str, Any]:
        from urllib.parse import quote

        return dict(await self._get(f"/queue/{quote(queue, safe='')}"))

    async def check_online(self, queue: str | None = None) -> list[str]:
        """Problems with the [rt] settings as seen from RT, each naming the setting; [] = fine."""
        s = self.settings
        queue = queue or s.queue
        problems: list[str] = []
        try:
            await self.version()
        except RTAuthError:
            return ["[rt] token/token_file: RT rejected the token (401)"]
        except RTUnavailable as exc:
            return [f"[rt] url: RT not reachable at {s.url}: {exc}"]
        except RTError as exc:
            return [f"[rt] url: {s.url} does not look like RT 5 REST 2.0: {exc}"]
        try:
            q = await self.queue_info(queue)
        except (RTNotFound, RTPermissionError):
            return [
                f"[rt] queue: queue {queue!r} does not exist or the bot cannot see it (SeeQueue)"
            ]
        except RTError as exc:
            return [f"[rt] queue: cannot read queue {queue!r}: {exc}"]
        if not q.get("Name") and not q.get("id"):
            return [
                f"[rt] queue: queue {queue!r} does not exist or the bot cannot see it (SeeQueue)"
            ]
        links = {h.get("ref") for h in q.get("_hyperlinks", []) if isinstance(h, dict)}
        if "create" not in links:
            problems.append(f"[rt] queue: the bot lacks CreateTicket on queue {queue!r}")
        cf_names = {c.get("name") for c in q.get("TicketCustomFields", []) if isinstance(c, dict)}
        for key, name in (
            ("matrix_room_field", s.matrix_room_field),
            ("matrix_thread_field", s.matrix_thread_field),
        ):
            if name not in cf_names:
                problems.append(
                    f"[rt] {key}: ticket custom field {name!r} is not applied to queue {queue!r}"
                    " or the bot lacks SeeCustomField"
                )
        if not problems:
            # Reply/comment rights show as hyperlinks on a ticket; check one if there is any.
            try:
                body = await self._get(
                    "/tickets",
                    {"query": f"Queue = {ticketsql_quote(queue)}", "per_page": 1, "orderby": "id"},
                )
                items = SearchPage.model_validate(body).items
                if items:
                    t = await self._get(f"/ticket/{int(items[0]['id'])}")
                    refs = {h.get("ref") for h in t.get("_hyperlinks", [])}
                    for ref, right in (
                        ("correspond", "ReplyToTicket"),
                        ("comment", "CommentOnTicket"),
                    ):
                        if ref not in refs:
                            problems.append(f"[rt] queue: the bot lacks {right} on {queue!r}")
            except RTError as exc:
                problems.append(f"[rt] queue: cannot search queue {queue!r}: {exc}")
        return problems


async def check_online(settings: RTSettings) -> list[str]:
    """`backchannel check-config --online`: token, queue, rights and custom fields."""
    if not settings.enabled:
        return []
    try:
        token = settings.read_token()
    except ValueError as exc:
        return [str(exc)]
    async with RTClient(settings, token) as client:
        return await client.check_online()
