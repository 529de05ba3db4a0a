"""Atlassian Statuspage: webhook payloads and summary.json as pydantic models, and the
incident messages in the support room (one per incident, edited in place).

Webhooks (https://support.atlassian.com/statuspage/docs/enable-webhook-notifications/) come
in two documented shapes: an incident update ({meta, page, incident}) and a component update
({meta, page, component_update, component}). The public ``/api/v2/summary.json`` lists the
page status, the components and the *unresolved* incidents: an incident we know as open that
is missing from it has been resolved. Unknown extra fields are ignored (Atlassian adds them);
missing or mistyped documented fields reject the payload.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.html import esc, link
from bot.store import Store
from bot.txn import caused_by
from commands.support.repository import IncidentRow
from commands.support.settings import StatuspageSettings

log = logging.getLogger(__name__)

Short = Annotated[str, Field(max_length=200)]
Text = Annotated[str, Field(max_length=10_000)]
MAX_BODY = 256 * 1024  # a real payload is a few kB
RESOLVED = frozenset({"resolved", "postmortem", "completed"})
IMPACT_ICON = {"none": "ℹ️", "minor": "🟡", "major": "🟠", "critical": "🔴", "maintenance": "🛠️"}


class RedactTokens(logging.Filter):
    """Keep webhook tokens out of aiohttp's access log (the token is the path)."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.tokens:
            msg = record.getMessage()
            if any(t in msg for t in self.tokens):
                for t in self.tokens:
                    msg = msg.replace(t, "***")
                record.msg, record.args = msg, None
        return True


ACCESS_LOG_FILTER = RedactTokens()


def hide_token_in_access_log(token: str) -> None:
    logger = logging.getLogger("aiohttp.access")
    if ACCESS_LOG_FILTER not in logger.filters:
        logger.addFilter(ACCESS_LOG_FILTER)
    ACCESS_LOG_FILTER.tokens.add(token)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class IncidentUpdate(_Payload):
    id: Short
    status: Short
    body: Text = ""
    created_at: datetime
    display_at: datetime | None = None


class Incident(_Payload):
    id: Short
    name: Short
    status: Short
    impact: Short = "none"
    shortlink: Short | None = None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    incident_updates: list[IncidentUpdate] = Field(default_factory=list, max_length=500)

    @property
    def is_resolved(self) -> bool:
        return self.status in RESOLVED

    def latest(self) -> IncidentUpdate | None:
        if not self.incident_updates:
            return None
        return max(self.incident_updates, key=lambda u: u.created_at)


class Component(_Payload):
    id: Short
    name: Short
    status: Short  # operational | degraded_performance | partial_outage | major_outage | under_maintenance


class ComponentUpdate(_Payload):
    id: Short
    component_id: Short
    old_status: Short
    new_status: Short
    created_at: datetime


class PageRef(_Payload):
    id: Short
    status_indicator: Short | None = None
    status_description: Short | None = None


class IncidentWebhook(_Payload):
    page: PageRef
    incident: Incident


class ComponentWebhook(_Payload):
    page: PageRef
    component_update: ComponentUpdate
    component: Component


class PageStatus(_Payload):
    indicator: Short
    description: Short


class SummaryPage(_Payload):
    id: Short
    updated_at: datetime | None = None


class Summary(_Payload):
    page: SummaryPage
    status: PageStatus
    components: list[Component] = Field(default_factory=list, max_length=1000)
    incidents: list[Incident] = Field(default_factory=list, max_length=1000)


class BadPayload(Exception):
    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


def parse_webhook(raw: bytes) -> IncidentWebhook | ComponentWebhook:
    """Bad JSON -> 400; valid JSON of another shape -> 422."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadPayload(400, f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadPayload(422, "not a JSON object")
    try:
        if "incident" in data:
            return IncidentWebhook.model_validate(data)
        if "component_update" in data:
            return ComponentWebhook.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BadPayload(422, f"{where}: {first['msg']}") from exc
    raise BadPayload(422, "neither an incident nor a component update")


def incident_html(inc: Incident, page_url: str) -> str:
    url = inc.shortlink or f"{page_url}/incidents/{inc.id}"
    if inc.is_resolved:
        head = f"✅ Resolved: <b>{esc(inc.name)}</b>"
    else:
        icon = IMPACT_ICON.get(inc.impact, "⚠️")
        head = f"{icon} Service incident: <b>{esc(inc.name)}</b> — {esc(inc.status)}"
    latest = inc.latest()
    body = f"<br>{esc(latest.body)}" if latest and latest.body else ""
    return f"{head}{body}<br>{link(url, 'Details on the status page')}"


def asks_if_down(text: str, words: list[str]) -> bool:
    """A customer asking whether something is down (a question mentioning an outage word)."""
    low = text.lower()
    return "?" in low and any(w in low for w in words)


def incident_link(row: IncidentRow, page_url: str) -> str:
    return link(row.shortlink or f"{page_url}/incidents/{row.incident_id}", row.name)


class StatusService:
    """Keeps ``support_incidents`` and one support-room message per incident in step."""

    def __init__(
        self,
        settings: StatuspageSettings,
        store: Store,
        post: Callable[[str], Awaitable[str]],
        edit: Callable[[str, str], Awaitable[None]],
    ) -> None:
        self.settings = settings
        self.store = store
        self._post = post
        self._edit = edit
        self._lock = asyncio.Lock()  # webhook and poll may carry the same incident
        self.rejected = 0

    async def get(self, incident_id: str) -> IncidentRow | None:
        data = await self.store.fetchone(
            "SELECT * FROM support_incidents WHERE incident_id=?", (incident_id,)
        )
        return None if data is None else IncidentRow.model_validate(data)

    async def open_incidents(self) -> list[IncidentRow]:
        rows = await self.store.fetchall(
            "SELECT * FROM support_incidents WHERE resolved=0 ORDER BY updated_at"
        )
        return [IncidentRow.model_validate(r) for r in rows]

    async def apply(self, inc: Incident) -> bool:
        """Post a new incident, edit a known one; older or unchanged news is ignored."""
        async with self._lock:
            known = await self.get(inc.id)
            updated = inc.updated_at.astimezone(UTC).isoformat()
            if known and known.updated_at >= updated:
                return False  # older or the same news (webhooks may arrive out of order)
            if known is None and inc.is_resolved:
                return False  # resolved before we heard of it: nothing to tell the room
            html = incident_html(inc, self.settings.page_url)
            event_id = known.message_event if known else None
            # The incident (its post) or this update of it (an edit) causes the send: stored
            # after it, so a crash in between sends it again with the same transaction id.
            if event_id:
                with caused_by(f"statuspage:{inc.id}:{updated}", replay=True):
                    await self._edit(event_id, html)
            else:
                with caused_by(f"statuspage:{inc.id}", replay=True):
                    event_id = await self._post(html)
            await self.store.execute(
                "INSERT INTO support_incidents(incident_id, name, status, impact, shortlink,"
                " updated_at, message_event, resolved) VALUES (?,?,?,?,?,?,?,?)"
                " ON CONFLICT(incident_id) DO UPDATE SET name=excluded.name,"
                " status=excluded.status, impact=excluded.impact, shortlink=excluded.shortlink,"
                " updated_at=excluded.updated_at, message_event=excluded.message_event,"
                " resolved=excluded.resolved",
                (
                    inc.id,
                    inc.name,
                    inc.status,
                    inc.impact,
                    inc.shortlink,
                    updated,
                    event_id,
                    int(inc.is_resolved),
                ),
            )
            return True

    async def resolve_missing(self, open_ids: set[str], as_of: datetime | None) -> int:
        """summary.json lists only unresolved incidents: the ones gone from it are resolved.

        Only incidents last updated before the summary was: a webhook may be newer than a
        cached summary.json, and must not be undone by it.
        """
        n = 0
        cutoff = as_of.astimezone(UTC).isoformat() if as_of else None
        for row in await self.open_incidents():
            if row.incident_id in open_ids or (cutoff and row.updated_at > cutoff):
                continue
            async with self._lock:
                html = (
                    f"✅ Resolved: <b>{esc(row.name)}</b><br>"
                    f"{link(row.shortlink or self.settings.page_url, 'Details on the status page')}"
                )
                if row.message_event:
                    with caused_by(f"statuspage:{row.incident_id}:resolved", replay=True):
                        await self._edit(row.message_event, html)
                await self.store.execute(
                    "UPDATE support_incidents SET resolved=1, status='resolved' WHERE incident_id=?",
                    (row.incident_id,),
                )
            n += 1
        return n

    async def set_kv(self, key: str, value: Any) -> None:
        await self.store.execute(
            "INSERT INTO support_kv(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET"
            " value=excluded.value",
            (key, json.dumps(value)),
        )

    async def kv(self, key: str) -> Any:
        raw = await self.store.fetchval("SELECT value FROM support_kv WHERE key=?", (key,))
        return None if raw is None else json.loads(raw)

    async def apply_component(self, comp: Component) -> None:
        comps = await self.kv("components") or {}
        comps[comp.id] = {"name": comp.name, "status": comp.status}
        await self.set_kv("components", comps)

    async def apply_summary(self, summary: Summary) -> None:
        await self.set_kv(
            "page_status",
            {"indicator": summary.status.indicator, "description": summary.status.description},
        )
        await self.set_kv(
            "components", {c.id: {"name": c.name, "status": c.status} for c in summary.components}
        )
        for inc in summary.incidents:
            await self.apply(inc)
        await self.resolve_missing({i.id for i in summary.incidents}, summary.page.updated_at)

    # ---- the webhook endpoint

    async def webhook(self, request: web.Request) -> web.Response:
        token = self.settings.webhook_token
        given = request.match_info.get("token", "")
        if token is None or not hmac.compare_digest(
            given.encode(), token.get_secret_value().encode()
        ):
            log.warning("statuspage webhook with a wrong token from %s", request.remote)
            self.rejected += 1
            raise web.HTTPNotFound()
        raw = b""
        if request.content_length is None or request.content_length <= MAX_BODY:
            raw = await request.content.read(MAX_BODY + 1)
        if (request.content_length and request.content_length > MAX_BODY) or len(raw) > MAX_BODY:
            log.warning("statuspage webhook rejected (413): more than %d bytes", MAX_BODY)
            self.rejected += 1
            return web.Response(status=413, text="payload too large")
        try:
            payload = parse_webhook(raw)
        except BadPayload as exc:
            log.warning("statuspage webhook rejected (%d): %s", exc.status, exc)
            self.rejected += 1
            return web.Response(status=exc.status, text=str(exc))
        if isinstance(payload, IncidentWebhook):
            await self.apply(payload.incident)
        else:
            await self.apply_component(payload.component)
        if payload.page.status_indicator and payload.page.status_description:
            await self.set_kv(
                "page_status",
                {
                    "indicator": payload.page.status_indicator,
                    "description": payload.page.status_description,
                },
            )
        return web.Response(status=202, text="ok")

    # ---- polling

    async def poll_once(self, session: aiohttp.ClientSession) -> bool:
        url = f"{self.settings.page_url}/api/v2/summary.json"
        try:
            async with session.get(url) as resp:
                if resp.status != 200:
                    log.warning("statuspage poll: %s answered %d", url, resp.status)
                    return False
                raw = await resp.content.read(4 * 1024 * 1024)
            summary = Summary.model_validate_json(raw)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("statuspage poll failed: %s", exc)
            return False
        except ValidationError as exc:
            log.warning("statuspage summary.json not understood: %s", exc.errors()[0])
            return False
        await self.apply_summary(summary)
        return True

    async def poll_loop(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_seconds)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                try:
                    await self.poll_once(session)
                except Exception:
                    log.exception("statuspage poll crashed")
                await asyncio.sleep(self.settings.poll_seconds)

    async def status_html(self) -> str:
        page = await self.kv("page_status")
        comps = await self.kv("components") or {}
        incidents = await self.open_incidents()
        url = self.settings.page_url
        head = (
            f"Service status: <b>{esc(page['description'])}</b>"
            if page
            else "Service status: not known yet"
        )
        degraded = [c for c in comps.values() if c["status"] != "operational"]
        parts = [f"{head} ({link(url, url.removeprefix('https://'))})"]
        if degraded:
            parts.append(
                "Affected: "
                + ", ".join(
                    f"{esc(c['name'])} ({esc(c['status'].replace('_', ' '))})" for c in degraded
                )
            )
        if incidents:
            parts.append(
                "Open incidents: "
                + "; ".join(f"{incident_link(r, url)} — {esc(r.status)}" for r in incidents)
            )
        else:
            parts.append("No open incidents.")
        return "<br>".join(parts)
