"""Async client for Request Tracker 5's REST 2.0 API (the subset the bot needs).

Facts this relies on were measured on a real RT 5.0.3 (../shared/notes/rt5-for-tests.md):
- some failures come back as 200/201 with the error only in the message list;
- `total`/`pages` are null for non-superusers, so pages are read until a short one;
- `Location` headers are relative and carry the id of the created ticket / transaction;
- `fields=Parent` on attachments is a server bug (500): never requested.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.rt_settings import RTSettings

log = logging.getLogger(__name__)

PER_PAGE = 100  # RT's maximum
MAX_PAGES = 1000  # a runaway guard, far above any real queue

# Messages RT returns with HTTP 200/201 when (part of) a write did not happen.
_FAILURE_RE = re.compile(
    r"isn't a valid|is not a valid|permission denied|no permission|can't|cannot|could not|"
    r"couldn't|invalid|not allowed|failed|not found|doesn't exist|does not exist|illegal|"
    r"must be|required",
    re.IGNORECASE,
)
# ... some of which are harmless: asking for the state the ticket is already in.
_BENIGN_RE = re.compile(
    r"can't change status from '([^']*)' to '\1'|already the current value",
    re.IGNORECASE,
)
_LOCATION_ID_RE = re.compile(r"/(ticket|transaction)/(\d+)/?$")


# ---------------------------------------------------------------------------- errors


class RTError(Exception):
    """Any failure talking to RT. `status` is the HTTP status when there was one."""

    def __init__(
        self, message: str, *, status: int | None = None, messages: list[str] | None = None
    ):
        super().__init__(message)
        self.status = status
        self.messages = messages or []


class RTAuthError(RTError):
    """401: the token is missing, wrong or revoked ([rt] token / token_file)."""


class RTNotFound(RTError):
    """404: no such ticket / queue / transaction (or not visible to the bot)."""


class RTPermissionError(RTError):
    """403, or RT's "Permission Denied" (also what a nonexistent queue looks like on create)."""


class RTUnavailable(RTError):
    """Network error, timeout or 5xx after the retries: try again later.

    `maybe_applied` is set when a non-idempotent write may have reached RT anyway (timeout or
    5xx after the request was sent): the caller must reconcile before retrying it.
    """

    def __init__(self, message: str, *, status: int | None = None, maybe_applied: bool = False):
        super().__init__(message, status=status)
        self.maybe_applied = maybe_applied


class RTRejected(RTError):
    """RT understood the request and refused it (4xx, or a failure in a 200 message list)."""


# ---------------------------------------------------------------------------- TicketSQL


def ticketsql_quote(value: str | int) -> str:
    """One TicketSQL/TransactionSQL string literal; every value in a query goes through here.

    RT's parser (RT::SQL, Regexp::Common `delimited`) takes a backslash as the escape
    character inside quotes and unescapes `\\(.)` -> `$1`, so escaping backslash and the quote
    makes any chat text a single inert value. NUL is dropped (never meaningful, may truncate).
    Note for LIKE: `%` and `_` stay wildcards; only `=` comparisons are exact.
    """
    text = str(value).replace("\x00", "")
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def cf_keyword(field_name: str) -> str:
    """`'CF.{Matrix Room}'`: unquoted, a space in the name breaks the parser (400)."""
    return ticketsql_quote(f"CF.{{{field_name}}}")


# ---------------------------------------------------------------------------- models


class _RTModel(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class RTRef(_RTModel):
    """A link to another record, e.g. {"id": "matrix-bot", "type": "user", "_url": ...}."""

    id: str
    type: str | None = None
    url: str | None = Field(default=None, alias="_url")

    @field_validator("id", mode="before")
    @classmethod
    def _str_id(cls, v: Any) -> str:
        return str(v)


def _ref_id(v: Any) -> Any:
    """Collections expand some refs to "" (e.g. Object); keep the id string either way."""
    if isinstance(v, Mapping):
        return str(v.get("id", ""))
    return "" if v is None else str(v)


class CustomFieldValue(_RTModel):
    id: str
    name: str
    values: list[str] = Field(default_factory=list)


class Ticket(_RTModel):
    id: int
    subject: str = Field(default="", alias="Subject")
    status: str = Field(default="", alias="Status")
    priority: int = Field(default=0, alias="Priority")
    queue: str = Field(default="", alias="Queue")
    owner: str = Field(default="", alias="Owner")
    creator: str = Field(default="", alias="Creator")
    requestors: list[str] = Field(default_factory=list, alias="Requestor")
    created: datetime | None = Field(default=None, alias="Created")
    last_updated: datetime | None = Field(default=None, alias="LastUpdated")
    custom_fields: list[CustomFieldValue] = Field(default_factory=list, alias="CustomFields")

    @field_validator("queue", "owner", "creator", mode="before")
    @classmethod
    def _ref(cls, v: Any) -> str:
        return _ref_id(v)

    @field_validator("priority", mode="before")
    @classmethod
    def _int(cls, v: Any) -> int:
        return int(v or 0)

    @field_validator("requestors", mode="before")
    @classmethod
    def _refs(cls, v: Any) -> list[str]:
        return [_ref_id(x) for x in (v or [])]

    def cf(self, name: str) -> str | None:
        for f in self.custom_fields:
            if f.name == name:
                return f.values[0] if f.values else None
        return None


class TicketSummary(_RTModel):
    """A row of a ticket search."""

    id: int
    subject: str = Field(default="", alias="Subject")
    status: str = Field(default="", alias="Status")
    queue: str = Field(default="", alias="Queue")

    @field_validator("queue", mode="before")
    @classmethod
    def _ref(cls, v: Any) -> str:
        return _ref_id(v)


class Transaction(_RTModel):
    id: int
    type: str = Field(default="", alias="Type")  # Create, Correspond, Comment, Status, ...
    creator: str = Field(default="", alias="Creator")
    created: datetime | None = Field(default=None, alias="Created")
    object_type: str = Field(default="", alias="ObjectType")
    object_id: int = Field(default=0, alias="ObjectId")
    field: str = Field(default="", alias="Field")
    old_value: str = Field(default="", alias="OldValue")
    new_value: str = Field(default="", alias="NewValue")
    data: str = Field(default="", alias="Data")

    @field_validator("creator", mode="before")
    @classmethod
    def _ref(cls, v: Any) -> str:
        return _ref_id(v)

    @field_validator("object_id", mode="before")
    @classmethod
    def _oid(cls, v: Any) -> int:
        return int(v or 0)

    @field_validator("field", "old_value", "new_value", "data", mode="before")
    @classmethod
    def _none_str(cls, v: Any) -> str:
        return "" if v is None else str(v)


class Attachment(_RTModel):
    """One MIME part of a transaction. In collections RT returns `Content` decoded (raw text);
    for binary parts each byte is one code point, see `raw_bytes`."""

    id: int
    content_type: str = Field(default="", alias="ContentType")
    filename: str = Field(default="", alias="Filename")
    content: str = Field(default="", alias="Content")

    @field_validator("filename", "content", "content_type", mode="before")
    @classmethod
    def _none_str(cls, v: Any) -> str:
        return "" if v is None else str(v)

    @property
    def is_file(self) -> bool:
        return bool(self.filename)

    @property
    def is_body(self) -> bool:
        return not self.filename and self.content_type in ("text/plain", "text/html")


class SearchPage(_RTModel):
    count: int = 0
    page: int = 1
    per_page: int = PER_PAGE
    total: int | None = None  # null unless SuperUser
    pages: int | None = None
    items: list[dict[str, Any]] = Field(default_factory=list)


class RTFile(BaseModel):
    """A file to attach to a ticket message."""

    filename: str
    content_type: str = "application/octet-stream"
    data: bytes

    @field_validator("filename")
    @classmethod
    def _one_line(cls, v: str) -> str:
        # Matrix file names are chat input: a line break in one made RT 5 answer 500.
        return " ".join(re.split(r"[\x00-\x1f\x7f\x85\u2028\u2029]+", v)).strip() or "file"

    def as_json(self) -> dict[str, str]:
        return {
            "FileName": self.filename,
            "FileType": self.content_type,
            "FileContent": base64.b64encode(self.data).decode("ascii"),
        }


# ---------------------------------------------------------------------------- client


def _messages(body: Any) -> list[str]:
    if isinstance(body, list):
        return [str(m) for m in body]
    if isinstance(body, dict) and "message" in body:
        return [str(body["message"])]
    return []


def failures_in(messages: Iterable[str]) -> list[str]:
    """The messages of a 2xx answer that say something did not happen."""
    return [m for m in messages if _FAILURE_RE.search(m) and not _BENIGN_RE.search(m)]


class RTClient:
    """One aiohttp session for the bot's lifetime; every call is bounded by the timeouts."""

    api = "rest2"

    def __init__(
        self,
        settings: RTSettings,
        token: str | None = None,
        *,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.settings = settings
        self._token = token if token is not None else settings.read_token()
        self._session = session
        self._own_session = session is None
        self.base = settings.rest_url

    async def __aenter__(self) -> RTClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(
                total=self.settings.timeout_seconds,
                sock_connect=self.settings.connect_timeout_seconds,
            )
            self._session = aiohttp.ClientSession(
                timeout=timeout,
                connector=aiohttp.TCPConnector(ssl=None if self.settings.verify_tls else False),
                # Not "Mozilla": RT answers those with a 302 to the login page instead of 401.
                headers={"User-Agent": "backchannel-matrix-bot"},
            )
            self._own_session = True
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None and not self._session.closed:
            await self._session.close()

    # -- transport

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> tuple[int, Mapping[str, str], Any]:
        """One call with bounded retries (jitter) on network errors and 5xx, never on 4xx."""
        if idempotent is None:
            idempotent = method in ("GET", "PUT", "DELETE", "HEAD")
        url = f"{self.base}{path}"
        headers = {"Authorization": f"token {self._token}"}
        attempts = self.settings.retries + 1
        last: RTUnavailable | None = None
        for attempt in range(attempts):
            if attempt:
                # Full jitter: concurrent retries against a recovering RT do not line up.
                cap = self.settings.retry_backoff_seconds * (2 ** (attempt - 1))
                await asyncio.sleep(random.uniform(cap / 2, cap))
            try:
                async with self.session.request(
                    method, url, params=params, json=json, headers=headers, allow_redirects=False
                ) as resp:
                    raw = await resp.read()
                    status = resp.status
                    body: Any = None
                    if raw:
                        try:
                            body = await resp.json(content_type=None)
                        except ValueError:
                            body = raw.decode("utf-8", "replace")
                    resp_headers = dict(resp.headers)
            except aiohttp.ClientConnectorError as exc:
                # Never connected: nothing reached RT, any method may be retried.
                last = RTUnavailable(f"RT unreachable at {self.settings.url}: {exc}")
                continue
            except (TimeoutError, aiohttp.ClientError) as exc:
                last = RTUnavailable(
                    f"RT {method} {path}: {type(exc).__name__} {exc}".strip(),
                    maybe_applied=not idempotent,
                )
                if not idempotent:
                    raise last from exc
                continue
            if status >= 500:
                last = RTUnavailable(
                    f"RT {method} {path}: HTTP {status}",
                    status=status,
                    maybe_applied=not idempotent,
                )
                # 502/503/504 come from a proxy in front of RT: the request did not run.
                if not idempotent and status not in (502, 503, 504):
                    raise last
                continue
            if status >= 400 or status in (301, 302, 303):
                raise self._error_for(method, path, status, body)
            return status, resp_headers, body
        assert last is not None
        raise last

    def _error_for(self, method: str, path: str, status: int, body: Any) -> RTError:
        msgs = _messages(body)
        text = "; ".join(msgs) or (body if isinstance(body, str) else "") or f"HTTP {status}"
        where = f"RT {method} {path}: {text}"
        if status in (401, 302, 301, 303):
            return RTAuthError(
                f"RT rejected the token (check [rt] token / token_file): {text}",
                status=status,
                messages=msgs,
            )
        if status == 404:
            return RTNotFound(where, status=status, messages=msgs)
        if status == 403 or any("permission denied" in m.lower() for m in msgs):
            return RTPermissionError(where, status=status, messages=msgs)
        return RTRejected(where, status=status, messages=msgs)

    async def _get(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        return (await self._request("GET", path, params=params))[2]

    async def _paged(
        self, path: str, params: Mapping[str, str | int]
    ) -> AsyncIterator[dict[str, Any]]:
        """All items of a collection: page until a short page (`pages` is null for us)."""
        for page in range(1, MAX_PAGES + 1):
            body = await self._get(path, {**params, "page": page, "per_page": PER_PAGE})
            sp = SearchPage.model_validate(body)
            for item in sp.items:
                yield item
            if sp.count < PER_PAGE or not sp.items:
                return
        log.warning("RT %s: stopped after %d pages", path, MAX_PAGES)

    @staticmethod
    def _location_id(headers: Mapping[str, str], kind: str) -> int | None:
        loc = headers.get("Location") or headers.get("location") or ""
        m = _LOCATION_ID_RE.search(loc)
        if m and m.group(1) == kind:
            return int(m.group(2))
        return None

    def _check_messages(self, what: str, body: Any) -> list[str]:
        msgs = _messages(body)
        bad = failures_in(msgs)
        if bad:
            raise RTRejected(f"RT {what}: {'; '.join(bad)}", status=200, messages=msgs)
        return msgs

    # -- API

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
                f"RT create: no ticket id in answer {body!r}", messages=_messages(body)
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
