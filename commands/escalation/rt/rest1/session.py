"""REST 1.0 session: one aiohttp session, the login cookie and RT's answers as typed errors.

The HTTP status is always 200; the real one is the answer's first line (rest1_form), and many
failures are `200 Ok` with only a `# ...` line saying so (`_raise_for`). bcrypt runs on every
user/pass request, so the client logs in once and reuses the cookie, logging in again once
when RT answers `401 Credentials required` (an expired session).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal, Self

import aiohttp

from commands.escalation.rt.errors import (
    RTAuthError,
    RTError,
    RTNotFound,
    RTPermissionError,
    RTRejected,
    RTUnavailable,
)
from commands.escalation.rt.models import RTFile
from commands.escalation.rt.rest1_form import Answer, parse_answer, safe_filename
from commands.escalation.rt.transport import open_session, with_retries
from commands.escalation.settings import RTSettings

log = logging.getLogger(__name__)

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


class Rest1Session:
    """The login cookie, bounded HTTP exchanges, and RT's answers as typed errors."""

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
        # REST 1.0 addresses transactions and attachments through their ticket.
        self._txn_ticket: dict[int, int] = {}
        self._att_ticket: dict[int, int] = {}
        self.requests = 0  # requests sent (the benchmark reads it)
        self.logins = 0

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # unsafe: keep cookies of hosts given as an IP address (RT on 127.0.0.1).
            self._session = open_session(self.settings, cookie_jar=aiohttp.CookieJar(unsafe=True))
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

        async def attempt() -> tuple[int, bytes | None]:
            self.requests += 1
            try:
                async with self.session.request(
                    method,
                    url,
                    params=params,
                    data=data() if callable(data) else data,
                    allow_redirects=False,
                ) as resp:
                    raw = await resp.read()
                    return resp.status, raw
            except aiohttp.ClientResponseError as exc:
                if "Data after" not in str(exc.message):
                    raise RTUnavailable(
                        f"RT {method} {path}: {exc}", maybe_applied=not idempotent
                    ) from exc
                # rt-server/Starlet ends an *empty* chunked body twice (measured); aiohttp
                # refuses the second terminator. That is RT's empty answer (a no-op edit).
                return 0, None

        status, raw = await with_retries(self.settings, method, path, idempotent, attempt)
        if raw is None:
            return ""
        if status != 200:
            # REST 1.0 always answers 200; anything else is not RT's REST 1.0 (a proxy,
            # a login redirect, a wrong url).
            raise RTRejected(
                f"RT {method} {path}: HTTP {status} (is {self.settings.url} RT with REST 1.0?)",
                status=status,
            )
        return raw.decode("utf-8", "replace")

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

    # -- RT itself

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
