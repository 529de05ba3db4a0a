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
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from bot.matrix import MatrixError
from bot.store import Store
from commands.access import texts
from commands.access.models import (
    AccessRequest,
    MemberState,
    Org,
    dt_to_ts,
    homeserver_of,
    last_day,
    valid_mxid,
)
from commands.access.settings import AccessSettings

if TYPE_CHECKING:
    from bot.context import Services

from commands.access.outcomes import (
    GOOD_JOIN_RULES,
    OPEN_JOIN_RULES,
    STAFF_LINES_PER_CHECK,
    Change,
    CheckReport,
    JoinResult,
    Outcome,
    RateLimiter,
    next_daily,
    split_target,
)
from commands.access.repository import (
    _UPSERT_MEMBER,
    MIGRATIONS,
    ImportSummary,
    Refusal,
)
from commands.access.upkeep import AccessUpkeep

log = logging.getLogger(__name__)

# What callers import from here (the service is the capability's front door).
__all__ = [
    "GOOD_JOIN_RULES",
    "MIGRATIONS",
    "OPEN_JOIN_RULES",
    "STAFF_LINES_PER_CHECK",
    "AccessService",
    "Change",
    "CheckReport",
    "ImportSummary",
    "JoinResult",
    "Outcome",
    "RateLimiter",
    "Refusal",
    "next_daily",
    "split_target",
]


class AccessService(AccessUpkeep):
    """Getting in (``!join``, requests, admin decisions, grants); the tables and the room's
    upkeep are the base classes (repository.py, surface.py, upkeep.py)."""

    def __init__(
        self,
        store: Store,
        settings: AccessSettings,
        clock: Callable[[], datetime],
        *,
        services: Services | None = None,
        prefix: str = "!",
    ) -> None:
        super().__init__(store, clock)
        self.settings = settings
        self.services = services
        self.prefix = prefix
        self.limiter = RateLimiter(
            settings.join_rate_limit, settings.join_rate_window_minutes * 60.0
        )
        self._good_join_rule = "invite"
        self._pending: set[asyncio.Task[None]] = set()

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
