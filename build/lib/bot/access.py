"""The entitlement registry and the support room's doorkeeper (``app.services.access``).

State lives in the store (tables ``access_*``): organisations with their
products and homeservers, one row per member with its state, access requests
shown to admins as cards, and an append-only audit log. Every change of a
person's standing is written together with its audit row in one transaction;
the Matrix effects (invite, kick, DM, staff line) follow the commit, so a
failed effect never leaves the registry half-changed.

The same class serves the CLI (``matrix``-free: import/export) and the bot.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from bot import access_texts as texts
from bot.access_models import (
    ORG_ID,
    AccessRequest,
    AuditEntry,
    ImportProblems,
    Member,
    MemberImport,
    MemberState,
    Org,
    Parsed,
    Problem,
    dt_to_ts,
    export_csv,
    export_members_csv,
    export_toml,
    homeserver_of,
    last_day,
    parse_registry,
    valid_email,
    valid_mxid,
)
from bot.access_settings import AccessSettings
from bot.html import code, esc
from bot.matrix import MatrixError
from bot.store import Store, Transaction

if TYPE_CHECKING:
    from bot.context import Services

log = logging.getLogger(__name__)

MIGRATIONS = [
    """
    CREATE TABLE access_orgs (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        products TEXT NOT NULL,
        contract_end TEXT,
        email_domains TEXT NOT NULL,
        homeservers TEXT NOT NULL,
        contacts TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE access_members (
        user_id TEXT PRIMARY KEY,
        email TEXT,
        org_id TEXT NOT NULL,
        state TEXT NOT NULL,
        granted_by TEXT,
        granted_at REAL,
        expires_at REAL,
        updated_at REAL NOT NULL,
        reason TEXT
    );
    CREATE INDEX access_members_org ON access_members(org_id);
    CREATE INDEX access_members_state_expiry ON access_members(state, expires_at);
    CREATE TABLE access_requests (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id TEXT NOT NULL,
        org_id TEXT NOT NULL,
        email TEXT,
        why TEXT NOT NULL,
        via TEXT NOT NULL,
        dm_room TEXT,
        card_event_id TEXT,
        state TEXT NOT NULL,
        created_at REAL NOT NULL,
        decided_by TEXT,
        decided_at REAL,
        decision_reason TEXT
    );
    CREATE INDEX access_requests_card ON access_requests(card_event_id);
    CREATE INDEX access_requests_user ON access_requests(user_id, state);
    CREATE TABLE access_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts REAL NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        user_id TEXT,
        org_id TEXT,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX access_audit_user ON access_audit(user_id);
    CREATE TABLE access_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)
    """,
]

# A handful of staff-room lines per check; beyond that one summary line, not a flood.
STAFF_LINES_PER_CHECK = 10
OPEN_JOIN_RULES = {"public", "restricted", "knock_restricted"}
GOOD_JOIN_RULES = {"invite", "knock", "private"}


class Refusal(Exception):
    """An admin action that cannot be done; the message is plain text for the asker."""


class Outcome(StrEnum):
    admitted = "admitted"
    already = "already"
    reinvited = "reinvited"
    pending = "pending"
    requested = "requested"
    no_tier = "no_tier"
    unknown_org = "unknown_org"
    unknown_domain = "unknown_domain"


@dataclass
class JoinResult:
    outcome: Outcome
    html: str
    request_id: int | None = None


@dataclass
class Change:
    """A granted member who must go: ``state`` is expired or revoked."""

    user_id: str
    org_id: str
    state: MemberState
    why: str


@dataclass
class CheckReport:
    trigger: str
    members_checked: int = 0
    changes: list[Change] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class ImportSummary:
    orgs_added: int = 0
    orgs_updated: int = 0
    members: int = 0

    def __str__(self) -> str:
        return (
            f"{self.orgs_added} organisation(s) added, {self.orgs_updated} updated, "
            f"{self.members} member(s) written"
        )


class RateLimiter:
    """At most ``limit`` attempts per ``window`` seconds per key (in memory: a restart forgives)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str, now: float) -> float:
        """Record an attempt; 0 if allowed, else seconds until the next one is."""
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return hits[0] + self.window - now
        hits.append(now)
        return 0.0


def _org_from_row(row: dict[str, Any]) -> Org:
    return Org(
        id=row["id"],
        name=row["name"],
        products=json.loads(row["products"]),
        contract_end=date.fromisoformat(row["contract_end"]) if row["contract_end"] else None,
        email_domains=json.loads(row["email_domains"]),
        homeservers=json.loads(row["homeservers"]),
        contacts=json.loads(row["contacts"]),
    )


def _org_params(org: Org, now: float) -> tuple[Any, ...]:
    return (
        org.id,
        org.name,
        json.dumps(org.products),
        org.contract_end.isoformat() if org.contract_end else None,
        json.dumps(org.email_domains),
        json.dumps(org.homeservers),
        json.dumps(org.contacts),
        now,
    )


_UPSERT_ORG = (
    "INSERT INTO access_orgs(id, name, products, contract_end, email_domains, homeservers, "
    "contacts, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
    "name=excluded.name, products=excluded.products, contract_end=excluded.contract_end, "
    "email_domains=excluded.email_domains, homeservers=excluded.homeservers, "
    "contacts=excluded.contacts, updated_at=excluded.updated_at"
)
_UPSERT_MEMBER = (
    "INSERT INTO access_members(user_id, email, org_id, state, granted_by, granted_at, "
    "expires_at, updated_at, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT(user_id) DO UPDATE SET email=COALESCE(excluded.email, access_members.email), "
    "org_id=excluded.org_id, state=excluded.state, granted_by=excluded.granted_by, "
    "granted_at=excluded.granted_at, expires_at=excluded.expires_at, "
    "updated_at=excluded.updated_at, reason=excluded.reason"
)
_AUDIT = (
    "INSERT INTO access_audit(ts, actor, action, user_id, org_id, detail) VALUES (?, ?, ?, ?, ?, ?)"
)


class AccessService:
    def __init__(
        self,
        store: Store,
        settings: AccessSettings,
        clock: Callable[[], datetime],
        *,
        services: Services | None = None,
        prefix: str = "!",
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.services = services
        self.prefix = prefix
        self.limiter = RateLimiter(
            settings.join_rate_limit, settings.join_rate_window_minutes * 60.0
        )
        self._good_join_rule = "invite"
        self._pending: set[asyncio.Task[None]] = set()

    # ---- helpers -----------------------------------------------------------------------------

    @property
    def _svc(self) -> Services:
        assert self.services is not None, "Matrix-facing access calls need the bot's services"
        return self.services

    @property
    def support_room(self) -> str:
        return self._svc.config.rooms.support

    def _now(self) -> tuple[datetime, float]:
        now = self.clock()
        return now, now.timestamp()

    def is_exempt(self, user_id: str) -> bool:
        """Staff (configured or by power level), the bot and configured extras are never removed."""
        svc = self._svc
        return (
            user_id == svc.matrix.user_id
            or user_id in self.settings.exempt_users
            or svc.roles.is_staff(user_id)
        )

    def in_room(self, user_id: str) -> bool:
        return user_id in self._svc.matrix.members(self.support_room)

    async def _audit(
        self,
        tx: Transaction,
        actor: str,
        action: str,
        user_id: str | None,
        org_id: str | None,
        detail: str,
        now: float,
    ) -> None:
        await tx.execute(_AUDIT, (now, actor, action, user_id, org_id, detail))

    async def _tell(
        self, actor: str, action: str, user_id: str | None, org_id: str | None, detail: str
    ) -> None:
        if self.services is not None:
            await self.services.tell_staff(texts.staff_line(actor, action, user_id, org_id, detail))

    async def _bump(self, tx: Transaction) -> None:
        await tx.execute(
            "INSERT INTO access_meta(key, value) VALUES ('generation', '1') ON CONFLICT(key) "
            "DO UPDATE SET value=CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
        )

    async def generation(self) -> int:
        value = await self.store.fetchval("SELECT value FROM access_meta WHERE key='generation'")
        return int(value or 0)

    async def active(self) -> bool:
        """An empty registry enforces nothing: it would otherwise evict every customer before
        the admins had a chance to import their CRM."""
        return await self.store.fetchval("SELECT 1 FROM access_orgs LIMIT 1") is not None

    # ---- registry reads ----------------------------------------------------------------------

    async def org(self, org_id: str) -> Org | None:
        row = await self.store.fetchone(
            "SELECT * FROM access_orgs WHERE id=?", (org_id.strip().upper(),)
        )
        return _org_from_row(row) if row else None

    async def orgs(self) -> list[Org]:
        return [
            _org_from_row(r)
            for r in await self.store.fetchall("SELECT * FROM access_orgs ORDER BY id")
        ]

    async def org_by_domain(self, domain: str) -> Org | None:
        domain = domain.lower()
        return next((o for o in await self.orgs() if domain in o.email_domains), None)

    async def orgs_by_homeserver(self, user_id: str) -> list[Org]:
        return [o for o in await self.orgs() if o.owns_homeserver(user_id)]

    async def member(self, user_id: str) -> Member | None:
        row = await self.store.fetchone("SELECT * FROM access_members WHERE user_id=?", (user_id,))
        return Member.from_row(row) if row else None

    async def members(self, org_id: str | None = None) -> list[Member]:
        if org_id:
            rows = await self.store.fetchall(
                "SELECT * FROM access_members WHERE org_id=? ORDER BY user_id", (org_id.upper(),)
            )
        else:
            rows = await self.store.fetchall("SELECT * FROM access_members ORDER BY user_id")
        return [Member.from_row(r) for r in rows]

    async def request(self, request_id: int) -> AccessRequest | None:
        row = await self.store.fetchone("SELECT * FROM access_requests WHERE id=?", (request_id,))
        return AccessRequest(**row) if row else None

    async def request_by_card(self, event_id: str) -> AccessRequest | None:
        row = await self.store.fetchone(
            "SELECT * FROM access_requests WHERE card_event_id=?", (event_id,)
        )
        return AccessRequest(**row) if row else None

    async def pending_request(self, user_id: str) -> AccessRequest | None:
        row = await self.store.fetchone(
            "SELECT * FROM access_requests WHERE user_id=? AND state='pending' ORDER BY id DESC",
            (user_id,),
        )
        return AccessRequest(**row) if row else None

    async def audit_log(self, user_id: str | None = None, limit: int = 10) -> list[AuditEntry]:
        if user_id:
            rows = await self.store.fetchall(
                "SELECT * FROM access_audit WHERE user_id=? ORDER BY id DESC LIMIT ?",
                (user_id, limit),
            )
        else:
            rows = await self.store.fetchall(
                "SELECT * FROM access_audit ORDER BY id DESC LIMIT ?", (limit,)
            )
        return [AuditEntry(**r) for r in rows]

    def has_grant(self, member: Member | None, now: datetime) -> bool:
        return (
            member is not None
            and member.state is MemberState.granted
            and (member.expires_at is None or member.expires_at > now)
        )

    async def knows(self, user_id: str, room_id: str | None = None) -> bool:
        """Whether an invite from ``user_id`` is accepted (the core's invite policy asks).

        Registry members and people on an organisation's homeserver are known. Anyone else
        is accepted only into a DM-shaped room (so a stranger can ask with !join), never
        into group rooms.
        """
        if not valid_mxid(user_id):
            return False
        if await self.member(user_id) or await self.orgs_by_homeserver(user_id):
            return True
        return bool(
            self.settings.accept_dm_from_anyone and room_id and self._dm_invite(room_id, user_id)
        )

    def _dm_invite(self, room_id: str, inviter: str) -> bool:
        return self._svc.matrix.invite_is_dm(room_id, inviter)

    # ---- registry writes ---------------------------------------------------------------------

    async def upsert_org(self, org: Org, actor: str) -> bool:
        """Add or replace an organisation; True if it was new."""
        now = time.time()
        async with self.store.transaction() as tx:
            existed = await tx.fetchone("SELECT 1 FROM access_orgs WHERE id=?", (org.id,))
            await tx.execute(_UPSERT_ORG, _org_params(org, now))
            await self._audit(
                tx,
                actor,
                "org updated" if existed else "org added",
                None,
                org.id,
                f"products {', '.join(org.products) or 'none'}",
                now,
            )
            await self._bump(tx)
        return existed is None

    async def remove_org(self, org_id: str, actor: str) -> int:
        """Remove an organisation; its members lose their grants at the next check."""
        now = time.time()
        org_id = org_id.upper()
        async with self.store.transaction() as tx:
            if not await tx.fetchone("SELECT 1 FROM access_orgs WHERE id=?", (org_id,)):
                raise Refusal(f"there is no organisation {org_id}")
            count = await tx.fetchone(
                "SELECT COUNT(*) AS n FROM access_members WHERE org_id=? AND state='granted'",
                (org_id,),
            )
            await tx.execute("DELETE FROM access_orgs WHERE id=?", (org_id,))
            await self._audit(tx, actor, "org removed", None, org_id, "", now)
            await self._bump(tx)
        return int(count["n"]) if count else 0

    async def import_text(
        self, text: str, fmt: Literal["toml", "csv"], actor: str
    ) -> ImportSummary:
        """Validate the whole file, then write it in one transaction: a bad file changes nothing."""
        return await self.import_parsed(parse_registry(text, fmt), actor)

    async def import_parsed(self, parsed: Parsed, actor: str) -> ImportSummary:
        now = time.time()
        summary = ImportSummary()
        async with self.store.transaction() as tx:
            existing = {r["id"] for r in await tx.fetchall("SELECT id FROM access_orgs")}
            known = existing | {item.record.id for item in parsed.orgs}  # type: ignore[union-attr]
            problems = []
            for item in parsed.members:
                rec = item.record
                assert isinstance(rec, MemberImport)
                if rec.org not in known:
                    problems.append(
                        Problem(
                            item.field_lines.get("org", item.line),
                            "org",
                            f"unknown organisation {rec.org}",
                        )
                    )
            if problems:
                raise ImportProblems(problems)
            for item in parsed.orgs:
                org = item.record
                assert isinstance(org, Org)
                if org.id in existing:
                    summary.orgs_updated += 1
                else:
                    summary.orgs_added += 1
                await tx.execute(_UPSERT_ORG, _org_params(org, now))
            for item in parsed.members:
                rec = item.record
                assert isinstance(rec, MemberImport)
                granted = rec.state is MemberState.granted
                await tx.execute(
                    _UPSERT_MEMBER,
                    (
                        rec.user_id,
                        rec.email,
                        rec.org,
                        rec.state.value,
                        actor if granted else None,
                        now if granted else None,
                        dt_to_ts(rec.expires),
                        now,
                        "imported",
                    ),
                )
                summary.members += 1
            await self._audit(tx, actor, "import", None, None, str(summary), now)
            await self._bump(tx)
        return summary

    async def export(self, fmt: Literal["toml", "csv", "members-csv"]) -> str:
        orgs = await self.orgs()
        if fmt == "csv":
            return export_csv(orgs)
        members = await self.members()
        if fmt == "members-csv":
            return export_members_csv(members)
        return export_toml(orgs, members)

    # ---- getting in --------------------------------------------------------------------------

    async def ask(
        self,
        user_id: str,
        *,
        org_id: str | None = None,
        email: str | None = None,
        org: Org | None = None,
        via: Literal["join", "knock"] = "join",
        dm_room: str | None = None,
    ) -> JoinResult:
        """One person asks to enter: admit, queue for an admin, or explain why not."""
        now, now_ts = self._now()
        if org is None and org_id is not None:
            org = await self.org(org_id)
            if org is None:
                return JoinResult(Outcome.unknown_org, texts.unknown_org(org_id, self.prefix))
        elif org is None and email is not None:
            org = await self.org_by_domain(email.rsplit("@", 1)[1])
            if org is None:
                return JoinResult(
                    Outcome.unknown_domain, texts.unknown_domain(email, self.settings, self.prefix)
                )
        assert org is not None
        lack = org.lacks(self.settings.entitled_products, now.date())
        if lack:
            return JoinResult(Outcome.no_tier, texts.no_tier(self.settings, org, lack))
        member = await self.member(user_id)
        if self.has_grant(member, now):
            if self.in_room(user_id):
                return JoinResult(Outcome.already, "You already have access to the support room.")
            await self._invite(user_id)
            return JoinResult(
                Outcome.reinvited, "You already have access; I have sent the invite again."
            )
        pending = await self.pending_request(user_id)
        if pending:
            return JoinResult(
                Outcome.pending,
                f"Your request #{pending.id} is waiting for the Safespring team; "
                "I will tell you here when they decide.",
                pending.id,
            )
        server = homeserver_of(user_id)
        if org.owns_homeserver(user_id):
            await self._grant(
                user_id, org, email, None, f"bot (homeserver {server} belongs to {org.id})", now
            )
            return JoinResult(Outcome.admitted, texts.welcome(self.settings, self.prefix, org))
        why = f"{server} is not a homeserver that {org.id} owns"
        if email:
            why += "; the e-mail address is not verified"
        req = await self._create_request(user_id, org, email, why, via, dm_room, now_ts)
        card = await self._svc.tell_staff(texts.card(req, org))
        if card:
            await self.store.execute(
                "UPDATE access_requests SET card_event_id=? WHERE id=?", (card, req.id)
            )
        return JoinResult(Outcome.requested, texts.request_sent(req.id, org), req.id)

    async def _create_request(
        self,
        user_id: str,
        org: Org,
        email: str | None,
        why: str,
        via: str,
        dm_room: str | None,
        now: float,
    ) -> AccessRequest:
        async with self.store.transaction() as tx:
            req_id = await tx.execute(
                "INSERT INTO access_requests(user_id, org_id, email, why, via, dm_room, state, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
                (user_id, org.id, email, why, via, dm_room, now),
            )
            await tx.execute(
                _UPSERT_MEMBER,
                (user_id, email, org.id, MemberState.requested.value, None, None, None, now, why),
            )
            await self._audit(
                tx, user_id, "requested", user_id, org.id, f"#{req_id} via {via}", now
            )
        req = await self.request(req_id)
        assert req is not None
        return req

    async def _grant(
        self,
        user_id: str,
        org: Org,
        email: str | None,
        until: datetime | None,
        actor: str,
        now: datetime,
        *,
        note: str = "",
    ) -> tuple[datetime | None, bool]:
        """Write the grant (closing any pending request) with its audit row, invite, tell staff.

        Returns (end of the grant, whether the invite went out)."""
        if until is None and self.settings.default_grant_days:
            until = now + timedelta(days=self.settings.default_grant_days)
        now_ts = now.timestamp()
        detail = f"until {last_day(until).isoformat()}" if until else "no end date"
        if note:
            detail = f"{note}, {detail}"
        async with self.store.transaction() as tx:
            await tx.execute(
                _UPSERT_MEMBER,
                (
                    user_id,
                    email,
                    org.id,
                    MemberState.granted.value,
                    actor,
                    now_ts,
                    dt_to_ts(until),
                    now_ts,
                    None,
                ),
            )
            await tx.execute(
                "UPDATE access_requests SET state='approved', decided_by=?, decided_at=? "
                "WHERE user_id=? AND state='pending'",
                (actor, now_ts, user_id),
            )
            await self._audit(tx, actor, "granted", user_id, org.id, detail, now_ts)
        invited = await self._invite(user_id)  # before the staff line: the person waits on it
        await self._tell(actor, "granted", user_id, org.id, detail)
        return until, invited

    async def _invite(self, user_id: str) -> bool:
        if user_id in self._svc.matrix.members(self.support_room):
            return True
        try:
            await self._svc.matrix.invite(self.support_room, user_id)
            return True
        except MatrixError as exc:
            log.warning("could not invite %s: %s", user_id, exc)
            await self._svc.tell_staff(
                texts.staff_line("bot", "invite failed", user_id, None, str(exc))
            )
            return False

    async def _tell_person(self, user_id: str, html: str, dm_room: str | None = None) -> None:
        matrix = self._svc.matrix
        try:
            room = dm_room or await matrix.dm_room(user_id)
        except MatrixError as exc:
            log.warning("could not open a DM with %s: %s", user_id, exc)
            return
        if matrix.knows_room(room):
            await self._send_quietly(user_id, room, html)
            return
        # A DM created just now is unknown until the next sync, and nio will not encrypt for
        # an unknown room; handlers run inside the sync loop, so wait outside of it.
        task = asyncio.create_task(self._send_when_synced(user_id, room, html))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send_when_synced(self, user_id: str, room: str, html: str) -> None:
        if await self._svc.matrix.wait_for_room(room, timeout=60):
            await self._send_quietly(user_id, room, html)
        else:
            log.warning("DM %s with %s never synced; message dropped", room, user_id)

    async def _send_quietly(self, user_id: str, room: str, html: str) -> None:
        try:
            await self._svc.matrix.send(room, html)
        except Exception as exc:  # nio raises its own errors too; a notice must not break an action
            log.warning("could not tell %s: %s", user_id, exc)

    async def close(self) -> None:
        """Let DMs still waiting for their room go out (briefly), then give up."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=5)
        for task in set(self._pending):
            task.cancel()

    # ---- admin decisions ---------------------------------------------------------------------

    async def _decide(
        self, request_id: int, actor: str, approve: bool, reason: str | None
    ) -> tuple[AccessRequest, Org | None]:
        """Close a pending request exactly once; a second decision is refused (no change)."""
        _, now_ts = self._now()
        async with self.store.transaction() as tx:
            row = await tx.fetchone("SELECT * FROM access_requests WHERE id=?", (request_id,))
            if row is None:
                raise Refusal(f"there is no access request #{request_id}")
            if row["state"] != "pending":
                who = row["decided_by"] or "someone"
                raise Refusal(f"request #{request_id} was already {row['state']} by {who}")
            state = "approved" if approve else "denied"
            await tx.execute(
                "UPDATE access_requests SET state=?, decided_by=?, decided_at=?, decision_reason=? "
                "WHERE id=?",
                (state, actor, now_ts, reason, request_id),
            )
            if not approve:
                await tx.execute(
                    "UPDATE access_members SET state='denied', reason=?, updated_at=? "
                    "WHERE user_id=? AND state='requested'",
                    (reason, now_ts, row["user_id"]),
                )
                await self._audit(
                    tx,
                    actor,
                    "denied",
                    row["user_id"],
                    row["org_id"],
                    f"#{request_id}" + (f": {reason}" if reason else ""),
                    now_ts,
                )
        req = await self.request(request_id)
        assert req is not None
        return req, await self.org(req.org_id)

    async def approve(self, request_id: int, actor: str) -> str:
        now, _ = self._now()
        req = await self.request(request_id)
        if req and req.state == "pending":
            org = await self.org(req.org_id)
            lack = org.lacks(self.settings.entitled_products, now.date()) if org else "unknown"
            if lack:
                raise Refusal(
                    f"{req.org_id} may not use the room ({lack.replace('_', ' ')}); deny the request instead"
                )
        req, org = await self._decide(request_id, actor, True, None)
        assert org is not None
        until, invited = await self._grant(
            req.user_id, org, req.email, None, actor, now, note=f"#{req.id}"
        )
        await self._tell_person(
            req.user_id, texts.welcome(self.settings, self.prefix, org), req.dm_room
        )
        await self._update_card(req, org)
        end = f" until {last_day(until).isoformat()}" if until else ""
        tail = "" if invited else " (the invite failed; see above)"
        return f"Request #{req.id} approved: {req.user_id} may join for {org.id}{end}.{tail}"

    async def deny(self, request_id: int, actor: str, reason: str | None) -> str:
        req, org = await self._decide(request_id, actor, False, reason)
        if req.via == "knock":
            try:  # a kick is how a knock is rejected
                await self._svc.matrix.kick(
                    self.support_room, req.user_id, reason or "not approved"
                )
            except MatrixError as exc:
                log.info("could not reject the knock of %s: %s", req.user_id, exc)
        await self._tell_person(req.user_id, texts.denied(self.settings, reason), req.dm_room)
        if org:
            await self._update_card(req, org)
        await self._tell(
            actor,
            "denied",
            req.user_id,
            req.org_id,
            f"#{req.id}" + (f": {reason}" if reason else ""),
        )
        return f"Request #{req.id} denied; {req.user_id} has been told."

    async def _update_card(self, req: AccessRequest, org: Org) -> None:
        if req.card_event_id:
            try:
                await self._svc.matrix.edit(
                    self._svc.config.rooms.staff, req.card_event_id, texts.card_decided(req, org)
                )
            except MatrixError as exc:
                log.warning("could not update card of request #%d: %s", req.id, exc)

    async def grant(self, user_id: str, org_id: str, until: datetime | None, actor: str) -> str:
        now, _ = self._now()
        if not valid_mxid(user_id):
            raise Refusal(f"{user_id} is not a Matrix id like @name:example.com")
        org = await self.org(org_id)
        if org is None:
            raise Refusal(f"there is no organisation {org_id.upper()} (see !orgs list)")
        lack = org.lacks(self.settings.entitled_products, now.date())
        if lack:
            raise Refusal(
                f"{org.id} may not use the room ({lack.replace('_', ' ')}): it needs one of "
                f"{', '.join(self.settings.entitled_products)} and a running contract"
            )
        if until is not None and until <= now:
            raise Refusal(f"--until {last_day(until).isoformat()} is already in the past")
        until, invited = await self._grant(user_id, org, None, until, actor, now)
        await self._tell_person(user_id, texts.welcome(self.settings, self.prefix, org))
        end = f" until {last_day(until).isoformat()}" if until else ""
        tail = "" if invited else " The invite failed; see above."
        return f"Granted: {user_id} may join for {org.id}{end}; invited and welcomed.{tail}"

    async def revoke(self, user_id: str, actor: str, reason: str | None) -> str:
        _, now_ts = self._now()
        if not valid_mxid(user_id):
            raise Refusal(f"{user_id} is not a Matrix id like @name:example.com")
        why = reason or "access revoked by the Safespring team"
        async with self.store.transaction() as tx:
            row = await tx.fetchone("SELECT * FROM access_members WHERE user_id=?", (user_id,))
            if row is None or row["state"] != MemberState.granted:
                state = row["state"] if row else "unknown to the registry"
                raise Refusal(f"{user_id} has no grant to revoke ({state})")
            await tx.execute(
                "UPDATE access_members SET state='revoked', reason=?, updated_at=? WHERE user_id=?",
                (why, now_ts, user_id),
            )
            await self._audit(tx, actor, "revoked", user_id, row["org_id"], why, now_ts)
        await self._tell(actor, "revoked", user_id, row["org_id"], why)
        kicked = await self._evict(user_id, why)
        where = "removed from the room" if kicked else "was not in the room"
        return f"Revoked {user_id} ({row['org_id']}): {where}, told by DM."

    async def _evict(self, user_id: str, why: str) -> bool:
        """Kick (if present) and DM; True if they were in the room."""
        kicked = False
        if self.in_room(user_id) and not self.is_exempt(user_id):
            try:
                await self._svc.matrix.kick(self.support_room, user_id, why)
                kicked = True
            except MatrixError as exc:
                log.warning("could not remove %s: %s", user_id, exc)
                await self._svc.tell_staff(
                    texts.staff_line("bot", "removal failed", user_id, None, str(exc))
                )
        await self._tell_person(user_id, texts.removed(self.settings, self.prefix, why))
        return kicked

    # ---- staying in --------------------------------------------------------------------------

    async def on_join(self, user_id: str) -> bool:
        """Someone joined the support room: remove them unless exempt or granted. True if removed."""
        if not self.settings.enforce_membership or self.is_exempt(user_id):
            return False
        if not await self.active():
            return False
        now, now_ts = self._now()
        member = await self.member(user_id)
        if self.has_grant(member, now):
            return False
        await self._remove_ungranted(user_id, member, now_ts)
        return True

    async def _remove_ungranted(self, user_id: str, member: Member | None, now_ts: float) -> None:
        why = "no access grant for the support room"
        state = member.state.value if member else "unknown"
        async with self.store.transaction() as tx:
            await self._audit(
                tx,
                "bot",
                "removed",
                user_id,
                member.org_id if member else None,
                f"{why} (registry: {state})",
                now_ts,
            )
        await self._evict(user_id, why)
        await self._tell(
            "bot",
            "removed",
            user_id,
            member.org_id if member else None,
            f"{why} (registry: {state})",
        )

    async def on_knock(self, user_id: str, reason: str) -> None:
        """A knock is a request to join: use what the knock says, else the homeserver."""
        if not self.settings.handle_knocks:
            return
        if self.is_exempt(user_id):
            await self._invite(user_id)
            return
        email = next((w for w in reason.split() if valid_email(w.strip(".,;"))), None)
        email = email.strip(".,;").lower() if email else None
        org: Org | None = None
        for word in reason.replace(",", " ").split():
            word = word.strip(".,;").upper()
            if ORG_ID.match(word) and (org := await self.org(word)):
                break
        if org is None and email is None:
            owners = await self.orgs_by_homeserver(user_id)
            if len(owners) == 1:
                org = owners[0]
            else:
                await self._tell_person(user_id, texts.knock_needs_org(self.prefix))
                return
        result = await self.ask(user_id, org=org, email=email, via="knock")
        await self._tell_person(user_id, result.html)

    async def on_join_rule(self, rule: str, actor: str) -> None:
        if rule in GOOD_JOIN_RULES:
            self._good_join_rule = "invite" if rule == "private" else rule
            return
        if not self.settings.enforce_join_rule:
            return
        restore = self._good_join_rule
        try:
            await self._svc.matrix.put_state(
                self.support_room, "m.room.join_rules", {"join_rule": restore}
            )
            done = f"I restored it to {restore}"
        except MatrixError as exc:
            done = f"I could NOT restore it ({exc}); please set it back to {restore}"
        await self._svc.tell_staff(
            f"🔐 {esc(actor)} set the support room's join rule to <b>{esc(rule)}</b>. "
            f"{esc(done)}: the room is only for people with an access grant, who enter "
            "by invite or knock."
        )
        _, now_ts = self._now()
        async with self.store.transaction() as tx:
            await self._audit(tx, actor, "join rule", None, None, f"{rule}: {done}", now_ts)

    async def check_join_rule(self) -> None:
        try:
            content = await self._svc.matrix.get_state(self.support_room, "m.room.join_rules")
        except MatrixError as exc:
            log.warning("cannot read the support room's join rule: %s", exc)
            return
        await self.on_join_rule(
            str(content.get("join_rule", "invite")), "someone (before my start)"
        )

    # ---- checks ------------------------------------------------------------------------------

    async def plan_check(
        self, now: datetime, *, expiry_only: bool = False
    ) -> tuple[int, list[Change]]:
        """Which granted members must go now: (members checked, changes). Reads only."""
        now_ts = now.timestamp()
        if expiry_only:
            rows = await self.store.fetchall(
                "SELECT user_id, org_id, expires_at FROM access_members "
                "WHERE state='granted' AND expires_at IS NOT NULL AND expires_at <= ?",
                (now_ts,),
            )
        else:
            rows = await self.store.fetchall(
                "SELECT user_id, org_id, expires_at FROM access_members WHERE state='granted'"
            )
        verdicts: dict[str, tuple[MemberState, str] | None] = {}
        if not expiry_only:
            today = now.date()
            for org in await self.orgs():
                lack = org.lacks(self.settings.entitled_products, today)
                if lack == "no_tier":
                    verdicts[org.id] = (
                        MemberState.revoked,
                        f"{org.name} no longer has {self.settings.required_product}",
                    )
                elif lack == "contract_ended" and org.contract_end:
                    verdicts[org.id] = (
                        MemberState.expired,
                        f"the support contract of {org.name} ended on {org.contract_end.isoformat()}",
                    )
                else:
                    verdicts[org.id] = None
        changes: list[Change] = []
        for row in rows:
            expires = row["expires_at"]
            if expires is not None and expires <= now_ts:
                day = last_day(datetime.fromtimestamp(expires, UTC)).isoformat()
                changes.append(
                    Change(
                        row["user_id"],
                        row["org_id"],
                        MemberState.expired,
                        f"your access grant ended on {day}",
                    )
                )
                continue
            if expiry_only:
                continue
            org_id = row["org_id"]
            if org_id not in verdicts:
                changes.append(
                    Change(
                        row["user_id"],
                        org_id,
                        MemberState.revoked,
                        f"organisation {org_id} is no longer in the registry",
                    )
                )
            elif (verdict := verdicts[org_id]) is not None:
                changes.append(Change(row["user_id"], org_id, verdict[0], verdict[1]))
        return len(rows), changes

    async def apply_changes(self, changes: list[Change], now_ts: float) -> None:
        """All state changes and their audit rows in one transaction."""
        if not changes:
            return
        async with self.store.transaction() as tx:
            await tx.executemany(
                "UPDATE access_members SET state=?, reason=?, updated_at=? "
                "WHERE user_id=? AND state='granted'",
                [(c.state.value, c.why, now_ts, c.user_id) for c in changes],
            )
            await tx.executemany(
                _AUDIT,
                [(now_ts, "bot", c.state.value, c.user_id, c.org_id, c.why) for c in changes],
            )

    async def notify_changes(self, changes: list[Change]) -> None:
        for i, change in enumerate(changes):
            await self._evict(change.user_id, change.why)
            if i < STAFF_LINES_PER_CHECK:
                await self._tell(
                    "bot", change.state.value, change.user_id, change.org_id, change.why
                )
        if len(changes) > STAFF_LINES_PER_CHECK:
            await self._svc.tell_staff(
                f"🔐 access check: {len(changes) - STAFF_LINES_PER_CHECK} more grant(s) ended; "
                f"see {code(self.prefix + 'access list')}."
            )

    async def sweep(self) -> list[str]:
        """Remove present members (joined or invited) without a grant; staff are exempt."""
        if not (self.settings.enforce_membership and self.settings.sweep_on_check):
            return []
        if not await self.active():
            return []
        now, now_ts = self._now()
        removed = []
        for user_id in self._svc.matrix.members(self.support_room):
            if self.is_exempt(user_id):
                continue
            member = await self.member(user_id)
            if not self.has_grant(member, now):
                await self._remove_ungranted(user_id, member, now_ts)
                removed.append(user_id)
        return removed

    async def check(self, trigger: str, *, expiry_only: bool = False) -> CheckReport:
        """The daily / start / on-change check: end grants that must end, then sweep the room."""
        started = time.perf_counter()
        now, now_ts = self._now()
        report = CheckReport(trigger)
        report.members_checked, report.changes = await self.plan_check(now, expiry_only=expiry_only)
        await self.apply_changes(report.changes, now_ts)
        if self.services is not None:
            await self.notify_changes(report.changes)
            if not expiry_only:
                report.removed = await self.sweep()
        report.seconds = time.perf_counter() - started
        if report.changes or report.removed or not expiry_only:
            log.info(
                "access check (%s): %d members, %d grants ended, %d removed, %.3fs",
                trigger,
                report.members_checked,
                len(report.changes),
                len(report.removed),
                report.seconds,
            )
        return report


def next_daily(now: datetime, hour: int, minute: int) -> datetime:
    """The next HH:MM (UTC) strictly after ``now``."""
    due = now.astimezone(UTC).replace(hour=hour, minute=minute, second=0, microsecond=0)
    return due if due > now else due + timedelta(days=1)


def split_target(text: str) -> tuple[str | None, str | None]:
    """``!join`` takes an organisation id or an e-mail address: (org_id, email)."""
    text = text.strip()
    if "@" in text and not text.startswith("@"):
        return None, text.lower()
    return text.upper(), None
