"""The access tables (``access_*``): organisations, members, requests, audit log, generation.

Every write and its audit row commit together; nothing here talks to Matrix, so the CLI
(import/export) uses it as it is."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from bot.store import Store, Transaction
from commands.access.formats import (
    ImportProblems,
    Parsed,
    Problem,
    export_csv,
    export_members_csv,
    export_toml,
    parse_registry,
)
from commands.access.models import (
    AccessRequest,
    AuditEntry,
    Member,
    MemberImport,
    MemberState,
    Org,
    dt_to_ts,
)

if TYPE_CHECKING:
    pass


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


class Refusal(Exception):
    """An admin action that cannot be done; the message is plain text for the asker."""


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


class AccessRepository:
    """The registry's tables, read and written in transactions with their audit rows."""

    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    def _now(self) -> tuple[datetime, float]:
        now = self.clock()
        return now, now.timestamp()

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

    async def email_of(self, user_id: str) -> str | None:
        """CustomerDirectory (bot/interfaces.py): the member's registered e-mail address."""
        member = await self.member(user_id)
        return member.email if member and member.email else None

    async def org_of(self, user_id: str) -> str | None:
        """CustomerDirectory: the member's organisation id."""
        member = await self.member(user_id)
        return member.org_id if member and member.org_id else None

    async def upsert_org(self, org: Org, actor: str) -> bool:
        """Add or replace an organisation; True if it was new."""
        _, now = self._now()
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
        _, now = self._now()
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
        _, now = self._now()
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
