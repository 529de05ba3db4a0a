"""Who is who: customer < engineer < admin, and where a message was said.

Roles come from the config (admins, engineers) and from the support room's
power levels. Room version 12 makes room creators all-powerful without listing
them in the power levels, and matrix-nio does not know that, so creators are
resolved here from the room's create event.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import IntEnum, StrEnum
from typing import Any, Protocol

from bot.config import Config

CREATOR_POWER = 2**53  # "infinite": v12 creators outrank every power level


class Role(IntEnum):
    customer = 0
    engineer = 1
    admin = 2


class Place(StrEnum):
    support = "support"
    staff = "staff"
    dm = "dm"
    other = "other"


ANYWHERE = frozenset({Place.support, Place.staff, Place.dm})
ROOMS = frozenset({Place.support, Place.staff})
STAFF_ONLY = frozenset({Place.staff})


class RoomState(Protocol):
    def power_level(self, room_id: str, user_id: str) -> int: ...

    def is_dm(self, room_id: str) -> bool: ...


def power_level_from_state(
    create: dict[str, Any] | None, power_levels: dict[str, Any] | None, user_id: str
) -> int:
    """Power of ``user_id`` given raw m.room.create and m.room.power_levels events."""
    create = create or {}
    content = create.get("content") or {}
    version = str(content.get("room_version", "1"))
    if _creators_are_privileged(version):
        creators = {create.get("sender"), *(content.get("additional_creators") or [])}
        if user_id in creators:
            return CREATOR_POWER
    pl = (power_levels or {}).get("content") or {}
    users = pl.get("users") or {}
    if user_id in users:
        return int(users[user_id])
    if not power_levels:
        # Without a power levels event the creator has 100 (pre-v12 rule).
        return 100 if create.get("sender") == user_id else 0
    return int(pl.get("users_default", 0))


def _creators_are_privileged(version: str) -> bool:
    try:
        return int(version) >= 12
    except ValueError:
        return version.startswith("org.matrix.hydra")


class Roles:
    def __init__(self, config: Config, rooms: RoomState, wanted: Collection[str] = ()) -> None:
        self._config = config
        self._rooms = rooms
        self._wanted = wanted  # Services.wanted_rooms: never a DM, however few are in it

    def role_of(self, user_id: str) -> Role:
        roles = self._config.roles
        if user_id in roles.admins:
            return Role.admin
        if user_id in roles.engineers:
            return Role.engineer
        threshold = roles.engineer_power_level
        if threshold is not None:
            for room in (self._config.rooms.staff, self._config.rooms.support):
                if self._rooms.power_level(room, user_id) >= threshold:
                    return Role.engineer
        return Role.customer

    def is_staff(self, user_id: str) -> bool:
        return self.role_of(user_id) >= Role.engineer

    def place_of(self, room_id: str) -> Place:
        if room_id == self._config.rooms.support:
            return Place.support
        if room_id == self._config.rooms.staff:
            return Place.staff
        if room_id not in self._wanted and self._rooms.is_dm(room_id):
            return Place.dm
        return Place.other
