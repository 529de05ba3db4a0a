"""HTTP for RT's REST 2.0: one session, bounded retries, RT's errors-in-200 messages.

`open_session` and `with_retries` serve the REST 1.0 client too (rest1/session.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any, Self, TypeVar

import aiohttp

from commands.escalation.rt.errors import (
    RTAuthError,
    RTError,
    RTNotFound,
    RTPermissionError,
    RTRejected,
    RTUnavailable,
)
from commands.escalation.rt.models import MAX_PAGES, PER_PAGE, SearchPage
from commands.escalation.settings import RTSettings

log = logging.getLogger(__name__)


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
T = TypeVar("T")


# ---------------------------------------------------------------------------- client


def messages_in(body: Any) -> list[str]:
    if isinstance(body, list):
        return [str(m) for m in body]
    if isinstance(body, dict) and "message" in body:
        return [str(body["message"])]
    return []


def failures_in(messages: Iterable[str]) -> list[str]:
    """The messages of a 2xx answer that say something did not happen."""
    return [m for m in messages if _FAILURE_RE.search(m) and not _BENIGN_RE.search(m)]


def open_session(settings: RTSettings, **kw: Any) -> aiohttp.ClientSession:
    """An RT client's session: the settings' timeouts and TLS check (``kw``: e.g. a cookie jar)."""
    timeout = aiohttp.ClientTimeout(
        total=settings.timeout_seconds,
        sock_connect=settings.connect_timeout_seconds,
    )
    return aiohttp.ClientSession(
        timeout=timeout,
        connector=aiohttp.TCPConnector(ssl=True if settings.verify_tls else False),
        # Not "Mozilla": RT answers those with a 302 to the login page instead of 401.
        headers={"User-Agent": "backchannel-matrix-bot"},
        **kw,
    )


async def with_retries(
    settings: RTSettings,
    method: str,
    path: str,
    idempotent: bool,
    attempt: Callable[[], Awaitable[tuple[int, T]]],
) -> tuple[int, T]:
    """``attempt()`` (one exchange: status and what was read) with bounded retries (jitter) on
    network errors and 5xx; one that may have reached RT is repeated only when idempotent."""
    last: RTUnavailable | None = None
    for n in range(settings.retries + 1):
        if n:
            # Full jitter: concurrent retries against a recovering RT do not line up.
            cap = settings.retry_backoff_seconds * (2 ** (n - 1))
            await asyncio.sleep(random.uniform(cap / 2, cap))
        try:
            status, result = await attempt()
        except aiohttp.ClientConnectorError as exc:
            # Never connected: nothing reached RT, any method may be retried.
            last = RTUnavailable(f"RT unreachable at {settings.url}: {exc}")
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
        return status, result
    assert last is not None
    raise last


class RestTransport:
    """One aiohttp session for the bot's lifetime; every call is bounded by the timeouts."""

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

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = open_session(self.settings)
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

        async def attempt() -> tuple[int, tuple[Mapping[str, str], Any]]:
            async with self.session.request(
                method, url, params=params, json=json, headers=headers, allow_redirects=False
            ) as resp:
                raw = await resp.read()
                body: Any = None
                if raw:
                    try:
                        body = await resp.json(content_type=None)
                    except ValueError:
                        body = raw.decode("utf-8", "replace")
                return resp.status, (dict(resp.headers), body)

        status, (resp_headers, body) = await with_retries(
            self.settings, method, path, idempotent, attempt
        )
        if status >= 400 or status in (301, 302, 303):
            raise self._error_for(method, path, status, body)
        return status, resp_headers, body

    def _error_for(self, method: str, path: str, status: int, body: Any) -> RTError:
        msgs = messages_in(body)
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
        msgs = messages_in(body)
        bad = failures_in(msgs)
        if bad:
            raise RTRejected(f"RT {what}: {'; '.join(bad)}", status=200, messages=msgs)
        return msgs

    # -- API
