"""DMs stay DMs: which invites the bot accepts, and leaving a DM that grows.

DM-only commands (``!join`` and its answers) assume nobody else reads along. So apart
from the rooms it is configured for, the bot joins only DM-shaped rooms, and it leaves
a DM, with one line, as soon as a third person is invited or joins.

An invitee sees only the invite's stripped state, which by default lists the inviter's
and the invitee's own membership, not who else was invited at the same moment. So an
invite is judged on what it does show (name, alias, the members it lists, ``is_direct``)
plus the room summary's joined count; the full member list is read once right after
joining; from then on every membership event is checked in timeline order.
"""

from __future__ import annotations

import logging

from bot.context import Services
from bot.events import Event, Kind
from bot.html import esc
from bot.matrix import MatrixError

log = logging.getLogger(__name__)

LEAVE_LINE = (
    "This was a direct message with me; now that more people are here I'm leaving. "
    "Message me directly again for DM-only commands."
)


class DmGuard:
    def __init__(self, services: Services) -> None:
        self.services = services

    def wanted(self, room_id: str) -> bool:
        """The configured rooms and those a capability asked for (``Services.wanted_rooms``)."""
        rooms = self.services.config.rooms
        return room_id in (rooms.support, rooms.staff) or room_id in self.services.wanted_rooms

    # ---- invites ---------------------------------------------------------------------

    async def on_invite(self, room_id: str, inviter: str) -> None:
        """Join wanted rooms, and DM-shaped rooms from known users; decline everything else."""
        try:
            await self._judge_invite(room_id, inviter)
        finally:
            self.services.matrix.invite_handled(room_id)

    async def _judge_invite(self, room_id: str, inviter: str) -> None:
        matrix = self.services.matrix
        if self.wanted(room_id):
            await matrix.join(room_id)
            self._count("joined_wanted")
            return
        if not inviter or not await self._known(inviter, room_id):
            await self._decline(room_id, inviter, "unknown_inviter", "the inviter is not known")
            return
        why = matrix.invite_not_dm(room_id, inviter)
        if why is None:
            joined = await matrix.invite_joined_count(room_id)
            if joined is not None and joined > 1:
                why = f"{joined} people have joined already"
        if why is not None:
            await self._decline(room_id, inviter, "not_dm", why)
            return
        await matrix.join(room_id)
        # Someone invited in the same breath as the bot is in no stripped state: look now,
        # before the room's first events arrive (they are handled after this job).
        try:
            people = await matrix.room_people(room_id)
        except MatrixError as exc:  # the membership events to come are still checked
            log.warning("could not read the members of %s after joining: %s", room_id, exc)
            people = set()
        if people - {inviter, matrix.user_id}:
            matrix.forget_dm(room_id)
            await self._decline(
                room_id, inviter, "third_person_after_join", f"{len(people)} members after joining"
            )
            return
        matrix.remember_dm(inviter, room_id)
        self._count("joined_dm")

    async def _known(self, user_id: str, room_id: str) -> bool:
        roles = self.services.config.roles
        if user_id in roles.admins or user_id in roles.engineers:
            return True
        if user_id in self.services.matrix.members(self.services.config.rooms.support):
            return True
        access = self.services.access
        return bool(access and await access.knows(user_id, room_id))

    async def _decline(self, room_id: str, inviter: str, outcome: str, why: str) -> None:
        """Leave without a word: a group room is not the bot's to talk in."""
        log.info("declining invite to %s from %r: %s", room_id, inviter, why)
        self._count(f"declined_{outcome}")
        await self.services.matrix.leave(room_id)

    def _count(self, outcome: str) -> None:
        self.services.metrics.invites.labels(outcome).inc()

    # ---- DMs that grow ---------------------------------------------------------------

    async def on_event(self, event: Event) -> bool:
        """True when ``event`` made a DM a group: the bot has said its line and left.

        Runs in timeline order before the router: membership events are barriers of their
        room (bot/ordering.py), so a command after the growth sees the room as left.
        """
        matrix = self.services.matrix
        newcomer = event.state_key
        if (
            event.kind is not Kind.member
            or event.membership not in ("join", "invite")
            or not newcomer
            or self.wanted(event.room_id)
            or not matrix.dm_grew(event.room_id, newcomer)
        ):
            return False
        room_id = event.room_id
        partner = matrix.dm_partner(room_id)
        matrix.forget_dm(room_id)  # before any await: later events of the room see it left
        self.services.metrics.dms_left.inc()
        log.info(
            "DM %s (with %s) grew: %s %s by %s; leaving",
            room_id,
            partner or "?",
            newcomer,
            event.membership,
            event.sender,
        )
        try:
            await matrix.send(room_id, esc(LEAVE_LINE), LEAVE_LINE)
        except Exception as exc:  # nio raises its own errors too; leaving matters more
            log.warning("could not say goodbye in %s: %s", room_id, exc)
        try:
            await matrix.leave(room_id)
        except MatrixError as exc:
            self.services.metrics.errors.labels("dm_leave").inc()
            log.error("could not leave grown DM %s: %s", room_id, exc)
        return True
