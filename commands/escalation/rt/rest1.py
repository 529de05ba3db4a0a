"""Async client for RT's REST 1.0 API (`/REST/1.0/`), the only API RT 4.4 ships.

Same operations, models and typed errors as the REST 2.0 client (see `interface.RTClient`).
Facts this relies on were measured on a real RT 4.4.6 (../shared/notes/rt44-for-tests.md):
- the HTTP status is always 200; the real one is the body's first line `RT/<ver> <code> <text>`,
  and many failures are `200 Ok` with only a `# ...` line saying so; some answers are empty;
  a server bug is a Mason error text with a stack and no status line;
- requests are forms `Key: value` in the field `content`; a value continues on lines that start
  with whitespace, so an unindented `Status: resolved` line in chat text would become a field
  (measured: it changed the status; a `Cc:` line mailed the reply there). `compose_form()` is the only
  place a form is built and it indents every continuation line (see `_text_value`);
- bcrypt runs on every user/pass request, so the client logs in once and reuses the session
  cookie, logging in again once when RT answers `401 Credentials required` (expired session);
- creates and messages return no transaction id: it is read back from the ticket's history;
- there is no transaction search: polling is one ticket search by LastUpdated plus the history
  of at most `poll_max_tickets` updated tickets per poll (see `transactions_since`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

import aiohttp

from commands.escalation.rt.errors import (
    RTAuthError,
    RTError,
    RTNotFound,
    RTPermissionError,
    RTRejected,
    RTUnavailable,
)
from commands.escalation.rt.models import (
    Attachment,
    CustomFieldValue,
    RTFile,
    Ticket,
    TicketSummary,
    Transaction,
    cf_keyword,
    ticketsql_quote,
)
from commands.escalation.rt.rest1_form import (
    Answer,
    compose_form,
    one_line,
    parse_answer,
    parse_rt_date,
    safe_filename,
)
from commands.escalation.settings import RTSettings

log = logging.getLogger(__name__)

_CREATED_RE = re.compile(r"^# Ticket (\d+) created\.", re.MULTILINE)
_NOT_EXIST_RE = re.compile(r"does not exist|Queue not set|Invalid object specification", re.I)
_NOT_ALLOWED_RE = re.compile(r"not allowed|No permission|Permission Denied|may not", re.I)
# `# ...` lines of a 200 answer that say the write did not (fully) happen.
_FAILED_RE = re.compile(
    r"could not|couldn't|can't|cannot|invalid|isn't a valid|is not a valid|not allowed|"
    r"no permission|permission denied|does not exist|unknown|failed|illegal|must be|"
    r"empty comment|no attachment",
    re.I,
)
_BENIGN_RE = re.compile(r"can't change status from '([^']*)' to '\1'|already the current", re.I)
_HISTORY_LINE_RE = re.compile(r"^(\d+): (.*)$")
_ATTACHMENT_LINE_RE = re.compile(r"^\s*(\d+): (.*?) \(([^()]*)\)\s*,?$")
# Widen every LastUpdated window: RT stores seconds, commits after the poll may land late, and
# the bot's clock may differ from RT's. Duplicates are removed by transaction id.
POLL_OVERLAP_S = 120


# ---------------------------------------------------------------------------- client


# RT stamps LastUpdated in whole seconds; a read this long after a stamp was first seen
# started after that second ended, so it saw every update carrying that stamp.
STAMP_SETTLED_S = 1.2


@dataclass
class _PollState:
    """What the poll remembers between calls (in memory; a restart re-derives it)."""

    last_start: float | None = None  # time.monotonic() at the start of the last good poll
    deferred: dict[int, int] = field(default_factory=dict)  # ticket -> lower txn bound
    returned: set[int] = field(default_factory=set)  # txn ids already handed out
    seen: dict[int, str] = field(default_factory=dict)  # ticket -> LastUpdated when read
    # ticket -> (LastUpdated, time.monotonic() when a search first showed it): RT's stamps are
    # whole seconds, so a history read counts as complete for a stamp only when it started
    # after that second was surely over (an update later in the same second keeps the stamp).
    first_seen: dict[int, tuple[str, float]] = field(default_factory=dict)


class RTRest1Client:
    """REST 1.0 with a session cookie; every call is bounded by the settings' timeouts."""

    api = "rest1"

    def __init__(self, settings: RTSettings, *, session: aiohttp.ClientSession | None = None):
        self.settings = settings
        if not settings.username:
            raise ValueError("[rt] username is not set (REST 1.0 logs in with a user name)")
        self.username = settings.username
        self._password = settings.read_password()
        self._session = session
        self._own_session = session is None
        self.base = f"{settings.url}/REST/1.0"
        self._logged_in = False
        self._login_lock = asyncio.Lock()
        self._poll = _PollState()
        # REST 1.0 addresses transactions and attachments through their ticket.
        self._txn_ticket: dict[int, int] = {}
        self._att_ticket: dict[int, int] = {}
        self.requests = 0  # requests sent (the benchmark reads it)
        self.logins = 0

    async def __aenter__(self) -> RTRest1Client:
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
                connector=aiohttp.TCPConnector(ssl=True if self.settings.verify_tls else False),
                # unsafe: keep cookies of hosts given as an IP address (RT on 127.0.0.1).
                cookie_jar=aiohttp.CookieJar(unsafe=True),
                headers={"User-Agent": "backchannel-matrix-bot"},
            )
            self._own_session = True
            self._logged_in = False
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None and not self._session.closed:
            await self._session.close()

    # -- transport

    async def _send(
        self,
        method: Literal["GET", "POST"],
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Any = None,
        idempotent: bool,
    ) -> str:
        """One HTTP exchange with bounded retries on network errors and HTTP 5xx (GETs only;
        a POST is retried only when it never reached RT)."""
        url = f"{self.base}/{path.lstrip('/')}"
        attempts = self.settings.retries + 1
        last: RTUnavailable | None = None
        for attempt in range(attempts):
            if attempt:
                cap = self.settings.retry_backoff_seconds * (2 ** (attempt - 1))
                await asyncio.sleep(random.uniform(cap / 2, cap))
            try:
                self.requests += 1
                async with self.session.request(
                    method,
                    url,
                    params=params,
                    data=data() if callable(data) else data,
                    allow_redirects=False,
                ) as resp:
                    raw = await resp.read()
                    status = resp.status
            except aiohttp.ClientConnectorError as exc:
                last = RTUnavailable(f"RT unreachable at {self.settings.url}: {exc}")
                continue
            except aiohttp.ClientResponseError as exc:
                if "Data after" not in str(exc.message):
                    raise RTUnavailable(
                        f"RT {method} {path}: {exc}", maybe_applied=not idempotent
                    ) from exc
                # rt-server/Starlet ends an *empty* chunked body twice (measured); aiohttp
                # refuses the second terminator. That is RT's empty answer (a no-op edit).
                return ""
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
                if not idempotent and status not in (502, 503, 504):
                    raise last
                continue
            if status != 200:
                # REST 1.0 always answers 200; anything else is not RT's REST 1.0 (a proxy,
                # a login redirect, a wrong url).
                raise RTRejected(
                    f"RT {method} {path}: HTTP {status} (is {self.settings.url} RT with REST 1.0?)",
                    status=status,
                )
            return raw.decode("utf-8", "replace")
        assert last is not None
        raise last

    async def login(self) -> None:
        """POST user/pass once; RT sets the session cookie the later requests carry."""
        async with self._login_lock:
            raw = await self._send(
                "POST", "", data={"user": self.username, "pass": self._password}, idempotent=True
            )
            self.logins += 1
            ans = parse_answer(raw)
            if ans.code == 401:
                raise RTAuthError(
                    f"RT rejected user {self.username!r} (check [rt] username / password /"
                    f" password_file): {ans.payload.strip() or ans.reason}",
                    status=401,
                )
            if ans.code != 200:
                raise RTRejected(f"RT login: {ans.code} {ans.reason}", status=ans.code)
            self._logged_in = True

    async def _call(
        self,
        method: Literal["GET", "POST"],
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        content: str | None = None,
        files: Iterable[RTFile] = (),
        idempotent: bool | None = None,
    ) -> Answer:
        """A request with the session; logs in first, and once more on 401 (expired session).

        A 401 means RT did not run the request, so repeating a POST after it is safe.
        """
        if idempotent is None:
            idempotent = method == "GET"
        files = list(files)

        def body() -> Any:
            if content is None:
                return None
            if not files:
                return {"content": content}
            form = aiohttp.FormData(charset="utf-8")
            form.add_field("content", content, content_type="text/plain; charset=utf-8")
            for i, f in enumerate(files, 1):
                form.add_field(
                    f"attachment_{i}",
                    f.data,
                    filename=safe_filename(f.filename),
                    content_type=f.content_type,
                )
            return form

        for attempt in range(2):
            if not self._logged_in:
                await self.login()
            raw = await self._send(method, path, params=params, data=body, idempotent=idempotent)
            ans = parse_answer(raw)
            if ans.code == 401 and attempt == 0:
                log.info("RT REST 1.0 session expired; logging in again")
                self._logged_in = False
                continue
            break
        if ans.code == 401:
            raise RTAuthError(
                f"RT rejected user {self.username!r} after a fresh login: {ans.reason}",
                status=401,
            )
        return ans

    def _raise_for(self, what: str, ans: Answer, *, allow_empty: bool = False) -> Answer:
        """The typed error for an answer, the same classes the REST 2.0 client raises."""
        comments = ans.comments
        # A Perl stack after "Stack:" is for RT's log, not for a chat message.
        text = "; ".join(comments) or ans.payload.split("\nStack:")[0].strip()[:300] or ans.reason
        if ans.code == 0:
            if allow_empty:
                return ans
            raise RTRejected(f"RT {what}: empty answer", status=200)
        if any(_NOT_EXIST_RE.search(c) for c in comments):
            raise RTNotFound(f"RT {what}: {text}", status=404, messages=comments)
        if any(_NOT_ALLOWED_RE.search(c) for c in comments):
            raise RTPermissionError(f"RT {what}: {text}", status=403, messages=comments)
        if ans.code != 200:
            raise RTRejected(
                f"RT {what}: {ans.code} {ans.reason}: {text}", status=ans.code, messages=comments
            )
        bad = [c for c in comments if _FAILED_RE.search(c) and not _BENIGN_RE.search(c)]
        if bad:
            raise RTRejected(f"RT {what}: {'; '.join(bad)}", status=200, messages=comments)
        return ans

    async def _get(self, what: str, path: str, params: Mapping[str, str] | None = None) -> Answer:
        return self._raise_for(what, await self._call("GET", path, params=params))

    # -- API

    async def version(self) -> str:
        """RT's version from the status line; no login needed (the 401 carries it too)."""
        raw = await self._send("GET", "", idempotent=True)
        return parse_answer(raw).version

    async def ping(self) -> bool:
        try:
            return bool(await self.version())
        except RTError:
            return False

    async def whoami(self) -> str:
        if not self._logged_in:
            await self.login()
        return self.username

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

    async def _search_updated(self, query: str) -> dict[int, str]:
        """Ticket id -> LastUpdated (RT's string) of the matches, oldest update first."""
        ans = await self._get(
            "search",
            "search/ticket",
            {"query": query, "format": "s", "fields": "LastUpdated", "orderby": "LastUpdated"},
        )
        out: dict[int, str] = {}
        for line in ans.payload.split("\n"):
            cells = line.split("\t")
            if len(cells) >= 2 and cells[0].strip().isdigit():
                out[int(cells[0])] = cells[1].strip()
        return out

    async def find_by_custom_field(
        self, field_name: str, value: str, queue: str | None = None
    ) -> list[TicketSummary]:
        query = f"{cf_keyword(field_name)} = {ticketsql_quote(value)}"
        if queue:
            query = f"Queue = {ticketsql_quote(queue)} AND {query}"
        return await self.search_tickets(query)

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

    async def transactions_since(
        self,
        queue: str,
        high_water: int,
        exclude_creator: str | None = None,
        types: Iterable[str] = ("Correspond", "Comment", "Status"),
    ) -> list[Transaction]:
        """New transactions of the queue with id > high_water, ascending.

        REST 1.0 has no transaction search, so one poll is bounded like this:
        1. one ticket search `Queue = q AND LastUpdated >= -N seconds` (N = time since the last
           poll + overlap; on the first poll, since the high-water transaction was created):
           its cost does not depend on how many tickets are open, only on how many changed;
        2. the history (one request) of at most `poll_max_tickets` of those tickets, the ones
           waiting longest first; the others are remembered and read in the next polls;
        3. one request per new transaction, at most `poll_max_transactions` per poll.
        So a poll sends at most 1 + poll_max_tickets + poll_max_transactions requests (plus one
        on the first poll), and 1 when nothing changed, however many tickets are open.
        """
        wanted = set(types)
        st = self._poll
        started = time.monotonic()
        window = await self._poll_window(high_water)
        query = f"Queue = {ticketsql_quote(queue)}"
        if window is not None:
            query += f" AND LastUpdated >= '-{window} seconds'"
        updated = await self._search_updated(query)
        searched = time.monotonic()
        for tid, stamp in updated.items():
            if st.first_seen.get(tid, ("", 0.0))[0] != stamp:
                st.first_seen[tid] = (stamp, searched)
        st.first_seen = {t: v for t, v in st.first_seen.items() if t in updated}
        # A ticket whose LastUpdated is what it was when its history was last read has
        # nothing new: the overlap window does not make the poll read it again.
        for tid, stamp in updated.items():
            if st.seen.get(tid) != stamp:
                st.deferred.setdefault(tid, high_water)
        st.seen = {t: v for t, v in st.seen.items() if t in updated}
        # Longest waiting first: deferred ones keep their place (dict order = insertion order).
        batch = list(st.deferred.items())[: self.settings.poll_max_tickets]
        budget = self.settings.poll_max_transactions
        found: list[Transaction] = []
        for tid, bound in batch:
            read_at = time.monotonic()
            history = await self._history(tid)
            new = [
                (t, d)
                for t, d in history
                if t > bound
                and t not in st.returned
                and not (exclude_creator and d.endswith(f" by {exclude_creator}"))
            ]
            done = True
            for txn_id, _ in new:
                if budget <= 0:
                    done = False
                    break
                budget -= 1
                txn = await self._transaction(tid, txn_id)
                st.returned.add(txn_id)
                if txn is None or txn.type not in wanted:
                    continue
                if exclude_creator and txn.creator == exclude_creator:
                    continue
                found.append(txn)
            if done:
                del st.deferred[tid]
                stamp_at = st.first_seen.get(tid, ("", read_at))[1]
                if tid in updated and read_at >= stamp_at + STAMP_SETTLED_S:
                    st.seen[tid] = updated[tid]
        if st.deferred:
            log.info("RT poll: %d updated ticket(s) left for the next poll", len(st.deferred))
        st.last_start = started
        floor = min([high_water, *st.deferred.values()])
        st.returned = {t for t in st.returned if t > floor}
        found.sort(key=lambda t: t.id)
        return found

    async def _poll_window(self, high_water: int) -> int | None:
        """Seconds back the LastUpdated search must reach; None = the whole queue."""
        st = self._poll
        if st.last_start is not None:
            return math.ceil(time.monotonic() - st.last_start) + POLL_OVERLAP_S
        if high_water <= 0:
            return None
        # First poll of this process: reach back to when the high-water transaction happened.
        ans = await self._call("GET", f"transaction/{int(high_water)}", params={"format": "l"})
        try:
            recs = self._raise_for("transaction", ans).records()
        except RTError:
            recs = []
        created = parse_rt_date(recs[0].get("Created")) if recs else None
        if created is None:
            # Not the whole queue (that could be thousands of histories): one day back.
            log.warning("RT poll: transaction %d unreadable; looking back one day", high_water)
            return 86400 + POLL_OVERLAP_S
        return max(0, math.ceil((datetime.now(UTC) - created).total_seconds())) + POLL_OVERLAP_S

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

    async def latest_transaction_id(self, queue: str) -> int:
        """The newest transaction of the queue: the history of its latest updated ticket."""
        for query in (
            f"Queue = {ticketsql_quote(queue)} AND LastUpdated >= '-7 days'",
            f"Queue = {ticketsql_quote(queue)}",
        ):
            ids = await self._search_ids(query, orderby="-LastUpdated")
            if ids:
                history = await self._history(ids[0])
                return max((t for t, _ in history), default=0)
        return 0

    async def check_online(self, queue: str | None = None) -> list[str]:
        """Problems with the [rt] settings as seen from RT, each naming the setting; [] = fine."""
        s = self.settings
        queue = queue or s.queue
        try:
            await self.login()
        except RTAuthError:
            return ["[rt] username/password: RT rejected the login (401)"]
        except RTUnavailable as exc:
            return [f"[rt] url: RT not reachable at {s.url}: {exc}"]
        except RTError as exc:
            return [f"[rt] url: {s.url} does not look like RT with REST 1.0: {exc}"]
        try:
            ans = await self._get("queue", f"queue/{quote(queue, safe='')}")
            rec = (ans.records() or [{}])[0]
        except RTError:
            rec = {}
        if not rec.get("Name"):
            return [
                f"[rt] queue: queue {queue!r} does not exist or the bot cannot see it (SeeQueue)"
            ]
        problems: list[str] = []
        # REST 1.0 lists a queue's CFs only to admins; a ticket shows every CF it can see.
        try:
            ids = await self._search_ids(f"Queue = {ticketsql_quote(queue)}", orderby="-id")
        except RTError as exc:
            return [f"[rt] queue: cannot search queue {queue!r}: {exc}"]
        if ids:
            try:
                t = await self.get_ticket(ids[0])
            except RTError as exc:
                return [f"[rt] queue: cannot read tickets of {queue!r} (ShowTicket): {exc}"]
            names = {c.name for c in t.custom_fields}
            for key, name in (
                ("matrix_room_field", s.matrix_room_field),
                ("matrix_thread_field", s.matrix_thread_field),
            ):
                if name.lower() not in {n.lower() for n in names}:
                    problems.append(
                        f"[rt] {key}: ticket custom field {name!r} is not applied to queue"
                        f" {queue!r} or the bot lacks SeeCustomField"
                    )
        return problems
