"""Staying in: joins, knocks and join rules as they happen, and the periodic check of every member."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from bot.html import code, esc
from bot.matrix import MatrixError
from bot.txn import caused_by
from commands.access import texts
from commands.access.models import (
    ORG_ID,
    Member,
    MemberState,
    Org,
    last_day,
    valid_email,
)

if TYPE_CHECKING:
    pass

from commands.access.outcomes import (
    GOOD_JOIN_RULES,
    STAFF_LINES_PER_CHECK,
    Change,
    CheckReport,
    JoinResult,
)
from commands.access.repository import _AUDIT
from commands.access.surface import AccessSurface

log = logging.getLogger(__name__)


class AccessUpkeep(AccessSurface):
    """Keeps the room matching the registry: one check plans, applies, then tells."""

    _good_join_rule: str

    if TYPE_CHECKING:  # service.py: getting in (a knock becomes a request)

        async def ask(
            self,
            user_id: str,
            *,
            org_id: str | None = None,
            email: str | None = None,
            org: Org | None = None,
            via: Literal["join", "knock"] = "join",
            dm_room: str | None = None,
        ) -> JoinResult: ...

    def has_grant(self, member: Member | None, now: datetime) -> bool:
        return (
            member is not None
            and member.state is MemberState.granted
            and (member.expires_at is None or member.expires_at > now)
        )

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
        _, now_ts = self._now()
        with caused_by(f"access:join-rule-at-start:{now_ts:.3f}"):  # no event behind it
            await self.on_join_rule(
                str(content.get("join_rule", "invite")), "someone (before my start)"
            )

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

    async def notify_changes(self, changes: list[Change], now_ts: float | None = None) -> None:
        # Each ended grant (user, new state, when it was written) causes its DM and staff line.
        at = f"{now_ts:.3f}" if now_ts is not None else "-"
        for i, change in enumerate(changes):
            with caused_by(f"access:{change.state.value}:{change.user_id}:{at}", replay=True):
                await self._evict(change.user_id, change.why)
                if i < STAFF_LINES_PER_CHECK:
                    await self._tell(
                        "bot", change.state.value, change.user_id, change.org_id, change.why
                    )
        if len(changes) > STAFF_LINES_PER_CHECK:
            with caused_by(f"access:more:{at}", replay=True):
                await self._svc.tell_staff(
                    f"🔐 access check: {len(changes) - STAFF_LINES_PER_CHECK} more grant(s) "
                    f"ended; see {code(self.prefix + 'access list')}."
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
                with caused_by(f"access:sweep:{user_id}:{now_ts:.3f}", replay=True):
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
            await self.notify_changes(report.changes, now_ts)
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
