"""The `policy_lists` protection: follows the list rooms and keeps the support room's bans in step.

Rules arrive three ways, all idempotent and serialised by one lock: a full read of a list
room's state (at start, when a list is first joined, after a redaction, every
`resync_minutes`), each rule event as sync brings it (applied at once), and the start-up
comparison of the stored rules with the state, which catches what changed while the bot was
down. Joins, invites and knocks in the support room are checked as they arrive.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import ClassVar

from bot.context import EventContext
from bot.events import Event
from bot.followed import FollowedRooms
from bot.matrix import MatrixError, MatrixGateway
from commands.moderation.moderator import Moderator
from commands.moderation.policy.enforcer import ACTIVE, NAME, Enforcer
from commands.moderation.policy.rules import BanRules, Rule, is_rule_type, rule_from_state
from commands.moderation.policy.store import PolicyStore
from commands.moderation.protections.common import BaseProtection
from commands.moderation.settings import PolicyListSettings

log = logging.getLogger(__name__)

TICK_SECONDS = 2.0  # how often the job looks for lists joined since, and switch changes


class PolicyLists(BaseProtection):
    name: ClassVar[str] = NAME
    settings: PolicyListSettings

    def __init__(
        self,
        moderator: Moderator,
        settings: PolicyListSettings,
        store: PolicyStore,
        followed: FollowedRooms,
    ) -> None:
        super().__init__(moderator, settings)
        self.store = store
        self.followed = followed
        self.enforcer = Enforcer(moderator, store)
        self.room_ids: dict[str, str | None] = {entry: None for entry in settings.rooms}
        self.problems: dict[str, str] = {}  # config entry -> what is wrong with it now
        self.loaded: dict[str, float] = {}  # room id -> when its state was last read in full
        self.rules: dict[tuple[str, str, str], Rule] = {}
        self.ban_rules = BanRules(())
        self.lock = asyncio.Lock()
        self._last_mode: tuple[bool, bool] | None = None

    # ---- start --------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Before the first sync: stored rules, alias resolution, and following the rooms."""
        await self.store.migrate()
        self._set_rules(await self.store.rules())
        await self._resolve()

    async def _resolve(self) -> None:
        staff_support = (self.moderator.support, self.moderator.services.config.rooms.staff)
        for entry, known in self.room_ids.items():
            if known is not None:
                continue
            try:
                room_id = entry if entry.startswith("!") else await self.matrix.resolve_alias(entry)
            except MatrixError as exc:
                self._problem(entry, f"cannot resolve the alias: {exc}")
                continue
            if room_id in staff_support:
                self._problem(entry, "that is the support or the staff room, not a policy list")
                continue
            self.room_ids[entry] = room_id
            # joined at start, invites accepted, never taken for a DM (bot/dms.py)
            self.moderator.services.wanted_rooms.add(room_id)
            self.followed.follow(room_id, self.on_list_event)

    def _problem(self, entry: str, what: str) -> None:
        if self.problems.get(entry) != what:
            log.error("policy list %s: %s", entry, what)
        self.problems[entry] = what

    @property
    def matrix(self) -> MatrixGateway:
        return self.moderator.matrix

    # ---- the job ------------------------------------------------------------------------

    async def run(self) -> None:
        """Join the lists, read them in full, then keep an eye on them until stopped."""
        if not self.room_ids:
            if self.rules or await self.store.bans(self.moderator.support):
                await self.resync()  # lists unconfigured since the last run: lift their bans
            return
        await self.resync()
        last_full = time.monotonic()
        while True:
            await asyncio.sleep(TICK_SECONDS)
            if time.monotonic() - last_full >= self.settings.resync_minutes * 60:
                await self.resync()
                last_full = time.monotonic()
                continue
            fresh = [
                rid
                for rid in self.room_ids.values()
                if rid and rid not in self.loaded and self.matrix.knows_room(rid)
            ]
            if fresh or self.mode != self._last_mode:
                async with self.lock:
                    for rid in fresh:  # joined since (an invite accepted): read it now
                        await self._load(rid)
                    await self._enforce()

    async def resync(self) -> None:
        """Join what is not joined, re-read every list, forget lists no longer configured."""
        await self._resolve()
        await self._join()
        async with self.lock:
            followed = {rid for rid in self.room_ids.values() if rid}
            for rid in sorted(followed):
                if self.matrix.knows_room(rid):  # (not joined: the problem is noted, rules kept)
                    await self._load(rid)
            if all(self.room_ids.values()):  # every entry known: anything else is unfollowed
                for gone in {r.list_room for r in self.rules.values()} - followed:
                    log.info("policy list %s is no longer followed: its rules are dropped", gone)
                    await self.store.replace_list(gone, [])
                    self._set_rules(r for r in self.rules.values() if r.list_room != gone)
            self.enforcer.failed.clear()  # a ban that failed (rate limit, power) is tried again
            await self._enforce()

    async def _join(self) -> None:
        for entry, rid in self.room_ids.items():
            if rid is None or self.matrix.knows_room(rid):
                continue
            try:
                await self.matrix.join(entry)  # an alias lets the server find the room
            except MatrixError as exc:
                self._problem(entry, f"cannot join: {exc} (make it public or invite the bot)")
                continue
            if not await self.matrix.wait_for_room(rid):
                self._problem(entry, "joined, but it did not show up in sync")

    async def _load(self, room_id: str) -> None:
        """Read one list's whole state; its stored rules become exactly what it holds now."""
        entry = next((e for e, r in self.room_ids.items() if r == room_id), room_id)
        try:
            state = await self.matrix.room_state(room_id)
        except MatrixError as exc:
            self._problem(entry, f"cannot read its state: {exc}")
            return
        self.problems.pop(entry, None)
        rules = [
            rule
            for ev in state
            if is_rule_type(str(ev.get("type")))
            and (rule := rule_from_state(room_id, ev)) is not None
        ]
        await self.store.replace_list(room_id, rules)
        others = [r for r in self.rules.values() if r.list_room != room_id]
        self._set_rules([*others, *rules])
        self.loaded[room_id] = time.time()

    def _set_rules(self, rules: Iterable[Rule]) -> None:
        self.rules = {r.key: r for r in rules}
        self.ban_rules = BanRules(self.rules.values())

    async def _enforce(self) -> None:
        """Bring the support room in line with the rules (the lock is held)."""
        enabled, shadow = self._last_mode = self.mode
        if not enabled:
            return
        try:
            await self.enforcer.sync(self.ban_rules, shadow)
        except MatrixError as exc:
            log.warning("policy lists: cannot read the support room now: %s", exc)

    # ---- events -------------------------------------------------------------------------

    async def on_list_event(self, ev: Event) -> None:
        """An event in a list room: a rule set, changed or removed, or a redaction."""
        rule_event = ev.kind == "state" and is_rule_type(ev.type) and ev.state_key is not None
        if not rule_event and ev.kind != "redaction":
            return
        async with self.lock:
            if ev.room_id not in self.loaded or ev.kind == "redaction":
                # (a redaction empties some rule: the state says which)
                await self._load(ev.room_id)
                await self._enforce()
                return
            key = (ev.room_id, ev.type, ev.state_key or "")
            raw = {"type": ev.type, "state_key": ev.state_key, "content": ev.content}
            new = rule_from_state(ev.room_id, {**raw, "event_id": ev.event_id})
            old = self.rules.get(key)
            if new == old:
                return
            if new is None:
                await self.store.drop_rule(key)
                self._set_rules(r for k, r in self.rules.items() if k != key)
            else:
                await self.store.put_rule(new)
                self._set_rules([*(r for k, r in self.rules.items() if k != key), new])
            if (old and old.is_ban) or (new and new.is_ban):
                await self._enforce()

    async def handle(self, ctx: EventContext) -> bool:
        """Support-room memberships: a new member named by a rule is banned at once.

        Unlike the message protections this ignores who sent the event (staff invite
        customers) and the downtime backlog (a listed person who joined then stays out).
        """
        ev = ctx.event
        user = ev.state_key
        if ev.kind != "member" or ev.room_id != self.moderator.support or not user:
            return False
        async with self.lock:
            if ev.prev_membership == "ban" and ev.membership != "ban":
                await self.enforcer.note_lifted(user, ev.sender)
                return False
            enabled, shadow = self.mode
            if enabled and ev.membership in ACTIVE:
                await self.enforcer.check(user, self.ban_rules, shadow)
        return False
