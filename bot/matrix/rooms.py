"""Room state from sync, and membership and power changes."""

from __future__ import annotations

import logging
from typing import Any

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
        if room_id in self._dm_rooms.values():
            return True
        room = self.client.rooms.get(room_id)
        return (
            room is not None
            and room.member_count <= 2
            and not room.name
            and not room.canonical_alias
        )

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
        """The direct room with ``user_id``, created (encrypted if configured) on first use."""
        if user_id in self._dm_rooms:
            return self._dm_rooms[user_id]
        for room in self.client.rooms.values():
            if (
                set(room.users) | set(room.invited_users) == {self.user_id, user_id}
                and not room.name
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
        self._dm_rooms[user_id] = room_id

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
        """Whether a pending invite is DM-shaped: unnamed, and only the inviter and the bot in it."""
        room = self.client.invited_rooms.get(room_id)
        if room is None or room.name or room.canonical_alias:
            return False
        people = set(room.users) | set(room.invited_users)
        return people <= {inviter, self.user_id}
