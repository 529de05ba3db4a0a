"""Turn ban rules into support-room bans and lift the bans of rules that went away.

Every ban and unban goes through Moderator.act (one audit row, one staff line, shadow mode,
staff and the bot refused). A ban row remembers which rule caused it: only those are ever
lifted, only while the ban is still the bot's own, and never once someone let the person
back in (an unban by hand, `!unban`, or ↩️ on the ban line): that decision stands for as long
as the rule does.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import Counter

from bot.matrix import MatrixError
from commands.moderation.moderator import Moderator, Refused
from commands.moderation.policy.rules import BanRules, Rule
from commands.moderation.policy.store import BanRow, PolicyStore

log = logging.getLogger(__name__)

NAME = "policy_lists"
ACTIVE = frozenset({"join", "invite", "knock"})  # who a ban rule is applied to
DEFAULT_REASON = "listed on a policy list"
Member = tuple[str, str]  # (membership, sender of the membership event)


class Enforcer:
    def __init__(self, moderator: Moderator, store: PolicyStore) -> None:
        self.mod = moderator
        self.store = store
        self.room = moderator.support
        # In memory on purpose: after a restart each is tried (or logged) once more.
        self.refused: set[tuple[str, tuple[str, str, str]]] = set()
        self.failed: set[tuple[str, tuple[str, str, str]]] = set()
        self.refusals = Counter(
            "backchannel_policy_refused_total",
            "Staff members (or the bot) a policy ban rule names, left alone",
            registry=moderator.services.metrics.registry,
        )

    async def members(self) -> dict[str, Member]:
        """The support room's memberships now, from its full state."""
        out: dict[str, Member] = {}
        for ev in await self.mod.matrix.room_state(self.room):
            content = ev.get("content")
            key = ev.get("state_key")
            if ev.get("type") != "m.room.member" or not isinstance(key, str):
                continue
            membership = content.get("membership") if isinstance(content, dict) else None
            out[key] = (str(membership), str(ev.get("sender", "")))
        return out

    async def sync(self, rules: BanRules, shadow: bool) -> None:
        """Make the room agree with the rules: lift what no rule holds, ban what one names."""
        members = await self.members()
        for user, row in (await self.store.bans(self.room)).items():
            await self._settle(row, rules, members.get(user), shadow)
        # Off the event loop: thousands of members against thousands of rules (BanRules is
        # never changed once built, only replaced).
        named = await asyncio.to_thread(
            lambda: [
                user
                for user, (membership, _) in sorted(members.items())
                if membership in ACTIVE and rules.first(user) is not None
            ]
        )
        for user in named:
            await self.check(user, rules, shadow, fresh=True)

    async def check(self, user: str, rules: BanRules, shadow: bool, *, fresh: bool = False) -> None:
        """``user`` is a member (joined, invited, knocking): ban them if a rule names them.

        ``fresh``: the membership comes from state read just now, so a ban row of ours for a
        member means someone let them back in (an event of that we never saw).
        """
        rule = rules.first(user)
        if rule is None:
            return
        row = await self.store.ban(self.room, user)
        if row is not None and not row.shadow:
            if row.lifted_by is None:
                lifter = await self.store.unbanned_by(self.room, user, row.audit_id)
                if lifter is None and not fresh:
                    return  # banned already; this join is older than our ban
                await self.note_lifted(user, lifter or "someone")
            return
        if row is not None and shadow:
            return  # the "would have banned" line was posted once already
        if (user, rule.key) in self.failed or (user, rule.key) in self.refused:
            return
        await self._ban(user, rule, shadow)

    async def _ban(self, user: str, rule: Rule, shadow: bool) -> None:
        try:
            outcome = await self.mod.act(
                "ban",
                target=user,
                actor=self.mod.matrix.user_id,
                reason=rule.reason or DEFAULT_REASON,
                protection=NAME,
                shadow=shadow,
            )
        except Refused as exc:
            self.refused.add((user, rule.key))
            self.refusals.inc()
            log.info("policy rule %s names %s, who is left alone: %s", rule.entity, user, exc)
            return
        if not outcome.ok:
            self.failed.add((user, rule.key))  # retried after a restart or a rule change
            return
        await self.store.put_ban(
            BanRow(
                room_id=self.room,
                user_id=user,
                list_room=rule.list_room,
                type=rule.type,
                state_key=rule.state_key,
                entity=rule.entity,
                audit_id=outcome.audit_id,
                shadow=shadow,
                at=self.mod.now(),
            )
        )

    async def _settle(
        self, row: BanRow, rules: BanRules, member: Member | None, shadow: bool
    ) -> None:
        """The rule behind ``row`` may be gone: keep the ban on another rule, or lift it."""
        current = rules.matching(row.user_id)
        if any(r.key == row.rule_key for r in current):
            return
        if current:  # another rule still names them: the ban stays, on that rule now
            rule = current[0]
            await self.store.put_ban(
                row.model_copy(
                    update={
                        "list_room": rule.list_room,
                        "type": rule.type,
                        "state_key": rule.state_key,
                        "entity": rule.entity,
                    }
                )
            )
            return
        if row.shadow or row.lifted_by is not None:
            await self.store.drop_ban(self.room, row.user_id)
            return
        if shadow:
            return  # a real ban waits for the protection to be on again
        membership, sender = member or ("leave", "")
        if membership == "ban" and sender == self.mod.matrix.user_id:
            try:
                outcome = await self.mod.act(
                    "unban",
                    target=row.user_id,
                    actor=self.mod.matrix.user_id,
                    reason=f"policy rule for {row.entity} removed",
                    protection=NAME,
                )
            except (Refused, MatrixError) as exc:
                log.warning("could not lift the policy ban of %s: %s", row.user_id, exc)
                return
            if not outcome.ok:
                return  # the row stays: the next re-read tries again
        # (banned again by hand, or unbanned already: not ours to lift any more)
        self.failed = {f for f in self.failed if f[0] != row.user_id}
        await self.store.drop_ban(self.room, row.user_id)

    async def note_lifted(self, user: str, by: str) -> None:
        """Someone unbanned ``user``: the rule that banned them leaves them alone from now."""
        row = await self.store.ban(self.room, user)
        if row is None or row.shadow or row.lifted_by is not None:
            return
        await self.store.put_ban(row.model_copy(update={"lifted_by": by}))
        log.info("policy ban of %s lifted by %s; that rule will not ban them again", user, by)
