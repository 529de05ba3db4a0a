"""Pick the RT backend: `[rt] api = "auto" | "rest2" | "rest1"`.

"auto" probes once at start: `GET /REST/2.0/rt` (RT 5: JSON with the version; RT 4.4: a 302 to
the login page, whose doubled chunked terminator aiohttp cannot even parse, or a 404 behind a
proxy) and `GET /REST/1.0/` (any RT 3.x-5.x: `RT/<version> 401 Credentials required`, no login
needed). The answer says what it found and why, for the log and `check-config --online`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from commands.escalation.rt.interface import RTClient
from commands.escalation.rt.rest1 import RTRest1Client
from commands.escalation.rt.rest1_form import parse_answer
from commands.escalation.rt.rest2 import RTClient as RTRest2Client
from commands.escalation.settings import RTSettings

log = logging.getLogger(__name__)
PROBE_TIMEOUT_S = 10.0


@dataclass
class Probe:
    client: RTClient
    api: str  # "rest2" | "rest1"
    sentence: str  # what was found and why this API, for people
    problem: str | None = None  # set when the chosen API cannot work as configured


@dataclass
class _Seen:
    rest2: bool | None = None  # None: could not tell (RT unreachable)
    rest2_version: str = ""
    rest1_version: str = ""
    error: str = ""


def _short(version: str) -> str:
    return version.split("+", 1)[0]


async def _look(settings: RTSettings) -> _Seen:
    seen = _Seen()
    timeout = aiohttp.ClientTimeout(total=PROBE_TIMEOUT_S, sock_connect=PROBE_TIMEOUT_S)
    headers = {"User-Agent": "backchannel-matrix-bot"}  # not Mozilla: RT 5 would 302 it
    async with aiohttp.ClientSession(
        timeout=timeout,
        headers=headers,
        connector=aiohttp.TCPConnector(ssl=True if settings.verify_tls else False),
    ) as http:
        try:
            async with http.get(f"{settings.url}/REST/1.0/", allow_redirects=False) as r:
                body = (await r.read()).decode("utf-8", "replace")
            if r.status == 200 and body.startswith("RT/"):
                seen.rest1_version = parse_answer(body).version
        except aiohttp.ClientConnectorError as exc:
            seen.error = f"not reachable: {exc}"
            return seen
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            seen.error = f"{type(exc).__name__}: {exc}"
        try:
            async with http.get(f"{settings.url}/REST/2.0/rt", allow_redirects=False) as r:
                ctype = r.headers.get("Content-Type", "")
                data = await r.json(content_type=None) if "json" in ctype else None
                status = r.status
            # 200 with a version, or 401 JSON (REST 2.0 is there; the probe sent no token).
            seen.rest2 = status in (200, 401) and isinstance(data, dict)
            if isinstance(data, dict):
                seen.rest2_version = str(data.get("Version", ""))
        except aiohttp.ClientResponseError as exc:
            # RT 4.4's 302 to /NoAuth/Login.html on rt-server (measured): REST 2.0 absent.
            seen.rest2 = False
            seen.error = seen.error or f"{exc.status} {exc.message}"
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            seen.rest2 = None if not seen.rest1_version else False
            seen.error = seen.error or f"{type(exc).__name__}: {exc}"
    return seen


def _rest2(settings: RTSettings) -> RTClient:
    return RTRest2Client(settings)  # satisfies the RTClient Protocol (checked by mypy)


async def connect(settings: RTSettings) -> Probe:
    """The client for `[rt]`, probing RT once when api = "auto". Never raises for RT's state:
    a problem is reported in `Probe.problem` and the client reports it again on use."""
    if settings.api == "rest2":
        return Probe(_rest2(settings), "rest2", "using REST 2.0 ([rt] api = rest2)")
    if settings.api == "rest1":
        return Probe(RTRest1Client(settings), "rest1", "using REST 1.0 ([rt] api = rest1)")
    seen = await _look(settings)
    version = _short(seen.rest1_version or seen.rest2_version)
    on = f" on RT {version}" if version else ""
    if seen.rest2 is None and not seen.rest1_version:
        # RT is down at start: go by the credentials; the next start probes again.
        api = "rest2" if settings.has_token else "rest1"
        client = _rest2(settings) if api == "rest2" else RTRest1Client(settings)
        name = "REST 2.0" if api == "rest2" else "REST 1.0"
        return Probe(
            client,
            api,
            f"RT not reachable at {settings.url} ({seen.error}); using {name}, as the"
            " configured credentials suggest",
        )
    if seen.rest2:
        if settings.has_token:
            return Probe(_rest2(settings), "rest2", f"REST 2.0 found{on}; using REST 2.0")
        return Probe(
            RTRest1Client(settings),
            "rest1",
            f"REST 2.0 found{on} but no [rt] token/token_file is set; using REST 1.0"
            " with username/password",
        )
    if settings.has_password:
        return Probe(RTRest1Client(settings), "rest1", f"REST 2.0 absent{on}; using REST 1.0")
    return Probe(
        _rest2(settings),
        "rest2",
        f"REST 2.0 absent{on} and no [rt] username/password set",
        problem=(
            f"[rt] username/password: RT {version or '(version unknown)'} has no REST 2.0"
            " (RT 4.4 ships REST 1.0 only);"
            " set username and password_file so the bot can use REST 1.0"
        ),
    )


async def check_online(settings: RTSettings, report: Callable[[str], None] = print) -> list[str]:
    """`backchannel check-config --online` for [rt]: which API, then the backend's checks."""
    if not settings.enabled:
        return []
    try:
        probe = await connect(settings)
    except ValueError as exc:  # an unreadable token_file / password_file
        return [str(exc)]
    report(f"  [rt] api: {probe.sentence}")
    async with probe.client as client:
        if probe.problem:
            return [probe.problem]
        try:
            return await client.check_online()
        except ValueError as exc:
            return [str(exc)]
