"""Room state from sync, and membership and power changes."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import nio

from bot.matrix.base import GatewayBase
from bot.matrix.errors import check
from bot.roles import CREATOR_POWER, power_level_from_state

log = logging.getLogger(__name__)


class Rooms(GatewayBase):
    # ---- room state (from nio's synced rooms) ------------------------------------

    def power_level(self, room_id: str, user_id: str) -> int:
        if user_id in self._creators.get(room_id, ()):
            return CREATOR_POWER
        room = self.client.rooms.get(room_id)
        return room.power_levels.get_user_level(user_id) if room else 0

    def note_create_event(self, room_id: str, raw: dict[str, Any]) -> None:
        """Remember a room's creators: v12 makes them all-powerful, nio does not know."""
        content = raw.get("content") or {}
        if power_level_from_state(raw, None, raw.get("sender", "")) >= CREATOR_POWER:
            self._creators[room_id] = {
                raw.get("sender", ""),
                *(content.get("additional_creators") or []),
            }

    def is_dm(self, room_id: str) -> bool:
        """The bot and at most one other person (joined or invited), in a room not left as grown."""
        if room_id in self._left_dms:
            return False
        room = self.client.rooms.get(room_id)
        if room is None:
            return room_id in self._dm_rooms.values()  # created just now, not synced yet
        if self._head_count(room) > 2:
            return False
        return room_id in self._dm_rooms.values() or not (room.name or room.canonical_alias)

    @staticmethod
    def _people(room: nio.MatrixRoom) -> set[str]:
        """Joined and invited members nio has seen."""
        return set(room.users) | set(room.invited_users)

    def _head_count(self, room: nio.MatrixRoom, *more: str) -> int:
        """Joined and invited, counting the sync summary's figures that lazy loading hides."""
        listed = len(self._people(room) | set(more))
        return max(int(room.member_count), listed)

    def members(self, room_id: str) -> list[str]:
        room = self.client.rooms.get(room_id)
        return list(room.users) if room else []

    def is_encrypted(self, room_id: str) -> bool:
        room = self.client.rooms.get(room_id)
        return bool(room and room.encrypted)

    # ---- membership ----------------------------------------------------------------

    async def invite(self, room_id: str, user_id: str) -> None:
        check(
            await self.client.room_invite(room_id, user_id),
            nio.RoomInviteResponse,
            f"invite {user_id}",
        )

    async def kick(self, room_id: str, user_id: str, reason: str | None = None) -> None:
        check(
            await self.client.room_kick(room_id, user_id, reason),
            nio.RoomKickResponse,
            f"kick {user_id}",
        )

    async def ban(self, room_id: str, user_id: str, reason: str | None = None) -> None:
        check(
            await self.client.room_ban(room_id, user_id, reason),
            nio.RoomBanResponse,
            f"ban {user_id}",
        )

    async def unban(self, room_id: str, user_id: str) -> None:
        check(
            await self.client.room_unban(room_id, user_id),
            nio.RoomUnbanResponse,
            f"unban {user_id}",
        )

    async def join(self, room_id: str) -> None:
        check(await self.client.join(room_id), nio.JoinResponse, f"join {room_id}")

    async def leave(self, room_id: str) -> None:
        check(await self.client.room_leave(room_id), nio.RoomLeaveResponse, f"leave {room_id}")

    async def joined_members(self, room_id: str) -> list[str]:
        resp = check(
            await self.client.joined_members(room_id), nio.JoinedMembersResponse, "members"
        )
        return [m.user_id for m in resp.members]

    async def get_state(self, room_id: str, event_type: str, state_key: str = "") -> dict[str, Any]:
        resp = await self.client.room_get_state_event(room_id, event_type, state_key)
        content: dict[str, Any] = check(
            resp, nio.RoomGetStateEventResponse, f"get {event_type}"
        ).content
        return content

    async def room_state(self, room_id: str) -> list[dict[str, Any]]:
        """Every current state event of ``room_id`` (the /state endpoint), raw."""
        resp = check(await self.client.room_get_state(room_id), nio.RoomGetStateResponse, "state")
        return [ev for ev in resp.events if isinstance(ev, dict)]

    async def resolve_alias(self, alias: str) -> str:
        resp = check(
            await self.client.room_resolve_alias(alias),
            nio.RoomResolveAliasResponse,
            f"resolve {alias}",
        )
        room_id: str = resp.room_id
        return room_id

    async def put_state(
        self, room_id: str, event_type: str, content: dict[str, Any], state_key: str = ""
    ) -> None:
        resp = await self.client.room_put_state(room_id, event_type, content, state_key)
        check(resp, nio.RoomPutStateResponse, f"put {event_type}")

    async def set_power_level(self, room_id: str, user_id: str, level: int | None) -> None:
        """Read-modify-write the power levels; ``None`` removes the user's entry."""
        content = await self.get_state(room_id, "m.room.power_levels")
        users = dict(content.get("users") or {})
        if level is None:
            users.pop(user_id, None)
        else:
            users[user_id] = level
        await self.put_state(room_id, "m.room.power_levels", {**content, "users": users})

    async def dm_room(self, user_id: str) -> str:
        """The direct room with ``user_id``, created (encrypted if configured) on first use.

        Never a room with anybody else in it: a remembered DM that grew is dropped and
        another one is looked for or made.
        """
        pair = {self.user_id, user_id}
        known = self._dm_rooms.get(user_id)
        if known is not None:
            room = self.client.rooms.get(known)
            if known not in self._left_dms and (
                room is None or (self._people(room) <= pair and self._head_count(room) <= 2)
            ):
                return known
            del self._dm_rooms[user_id]
        for room in self.client.rooms.values():
            if (
                room.room_id not in self._left_dms
                and self._people(room) == pair
                and self._head_count(room) == 2
                and not room.name
                and not room.canonical_alias
            ):
                found: str = room.room_id
                self._dm_rooms[user_id] = found
                return found
        initial_state = []
        if self.settings.encryption:
            initial_state.append(
                {
                    "type": "m.room.encryption",
                    "state_key": "",
                    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                }
            )
        resp = await self.client.room_create(
            is_direct=True,
            invite=[user_id],
            preset=nio.RoomPreset.trusted_private_chat,
            initial_state=initial_state,
        )
        room_id: str = check(resp, nio.RoomCreateResponse, f"create DM with {user_id}").room_id
        # nio knows the new room at once, but only with us in it: sending before a
        # sync shows the invite would share the megolm key with nobody else.
        await self.wait_for_room(room_id, member=user_id)
        self._dm_rooms[user_id] = room_id
        return room_id

    def remember_dm(self, user_id: str, room_id: str) -> None:
        self._left_dms.discard(room_id)
        self._dm_rooms[user_id] = room_id

    def dm_partner(self, room_id: str) -> str | None:
        """The person a remembered DM is with."""
        return next((u for u, r in self._dm_rooms.items() if r == room_id), None)

    def forget_dm(self, room_id: str) -> None:
        """Not a DM any more (the bot is leaving it): ``dm_room`` finds or makes another."""
        self._left_dms.add(room_id)
        for user_id in [u for u, r in self._dm_rooms.items() if r == room_id]:
            del self._dm_rooms[user_id]

    def dm_grew(self, room_id: str, newcomer: str) -> bool:
        """Whether ``newcomer`` joining or being invited makes a DM of the bot's a group.

        A remembered DM grows with anyone but its partner. Any other unnamed room the bot
        is in (a DM from before a restart) grows once it holds two people besides the bot.
        """
        if room_id in self._left_dms or newcomer == self.user_id:
            return False
        partner = self.dm_partner(room_id)
        if partner is not None:
            return newcomer != partner
        room = self.client.rooms.get(room_id)
        if room is None or room.name or room.canonical_alias:
            return False
        return self._head_count(room, newcomer, self.user_id) > 2

    def knows_room(self, room_id: str) -> bool:
        """Whether a sync has shown the bot joined to ``room_id`` (no I/O)."""
        return room_id in self.client.rooms

    def display_name(self, room_id: str, user_id: str) -> str:
        """The member's display name in the room from sync state, else the user id (no I/O)."""
        room = self.client.rooms.get(room_id)
        name = room.user_name(user_id) if room else None
        return name or user_id

    def member_display_names(self, room_id: str) -> dict[str, str | None] | None:
        """Joined members -> their own display name (not disambiguated), from sync state; None
        while no sync has shown the room (no I/O)."""
        room = self.client.rooms.get(room_id)
        if room is None:
            return None
        return {
            uid: user.display_name
            for uid, user in room.users.items()
            if uid not in room.invited_users
        }

    def invite_is_dm(self, room_id: str, inviter: str) -> bool:
        """Whether a pending invite is DM-shaped (see ``invite_not_dm``)."""
        return self.invite_not_dm(room_id, inviter) is None

    def invite_not_dm(self, room_id: str, inviter: str) -> str | None:
        """Why a pending invite is not DM-shaped, from its stripped state; None when it is.

        DM-shaped: unnamed, no alias, marked ``is_direct`` by the inviter's client, and
        nobody but the inviter and the bot among the members the stripped state lists.
        """
        room = self.client.invited_rooms.get(room_id)
        if room is None:
            return "no invite state"
        if room.name or room.canonical_alias:
            return "the room has a name or an alias"
        if not self._invite_direct.get(room_id, False):
            return "the invite is not marked as a direct message"
        people = set(room.users) | set(room.invited_users)
        if not people <= {inviter, self.user_id}:
            return "the invite names a third person"
        return None

    def _note_invite(self, room: nio.MatrixRoom, event: nio.Event) -> None:
        """nio callback on invite state: keep the is_direct flag nio's room does not."""
        if (
            isinstance(event, nio.InviteMemberEvent)
            and event.state_key == self.user_id
            and event.membership == "invite"
        ):
            self._invite_direct[room.room_id] = event.content.get("is_direct") is True

    def invite_handled(self, room_id: str) -> None:
        self._invite_direct.pop(room_id, None)

    async def invite_joined_count(self, room_id: str) -> int | None:
        """How many have joined a room the bot is invited to (room summary, Matrix 1.15).

        Shows people who joined a group room before the bot was invited, which the stripped
        state does not. None when the homeserver cannot say.
        """
        quoted = quote(room_id, safe="")
        for path in (
            f"/_matrix/client/v1/room_summary/{quoted}",
            f"/_matrix/client/unstable/im.nheko.summary/rooms/{quoted}/summary",
        ):
            headers = {"Authorization": f"Bearer {self.client.access_token}"}
            try:
                resp = await self.client.send("GET", path, None, headers=headers)
                async with resp:
                    payload = await resp.json(content_type=None) if resp.status == 200 else {}
            except Exception as exc:  # aiohttp's or a bad body: the summary is only a hint
                log.info("room summary of %s failed: %s", room_id, exc)
                return None
            count = payload.get("num_joined_members") if isinstance(payload, dict) else None
            if isinstance(count, int) and not isinstance(count, bool):
                return count
        return None

    async def room_people(self, room_id: str) -> set[str]:
        """Everyone joined or invited, from the room's full state (a joined room)."""
        resp = check(
            await self.client.room_get_state(room_id), nio.RoomGetStateResponse, "room state"
        )
        return {
            ev["state_key"]
            for ev in resp.events
            if isinstance(ev, dict)
            and ev.get("type") == "m.room.member"
            and isinstance(ev.get("state_key"), str)
            and (ev.get("content") or {}).get("membership") in ("join", "invite")
        }
