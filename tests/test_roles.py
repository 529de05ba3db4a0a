"""Power levels and room version 12 creators (which nio does not know about)."""

from __future__ import annotations

from bot.roles import CREATOR_POWER, power_level_from_state

CREATE_V12 = {
    "type": "m.room.create",
    "sender": "@creator:hs",
    "content": {"room_version": "12", "additional_creators": ["@co:hs"]},
}
CREATE_V11 = {"type": "m.room.create", "sender": "@creator:hs", "content": {"room_version": "11"}}
PL = {"content": {"users": {"@mod:hs": 50, "@creator:hs": 100}, "users_default": 0}}


def test_v12_creators_outrank_everyone_without_being_listed() -> None:
    assert power_level_from_state(CREATE_V12, PL, "@creator:hs") == CREATOR_POWER
    assert power_level_from_state(CREATE_V12, PL, "@co:hs") == CREATOR_POWER
    assert power_level_from_state(CREATE_V12, PL, "@mod:hs") == 50
    assert power_level_from_state(CREATE_V12, PL, "@someone:hs") == 0


def test_before_v12_power_levels_decide() -> None:
    assert power_level_from_state(CREATE_V11, PL, "@creator:hs") == 100
    assert power_level_from_state(CREATE_V11, None, "@creator:hs") == 100
    assert power_level_from_state(CREATE_V11, None, "@other:hs") == 0
