"""Policy rules as the spec defines them (MSC2313), and matching users against their globs.

A rule is one state event in a list room: ``{entity, recommendation, reason}``. The state
event replaced by one with other content (or with none: the usual way to remove a rule) is
simply no longer that rule. Types and the ban recommendation also come in the pre-spec names
that real lists still carry. Globs know ``*`` and ``?`` only: anything else is literal, so
``[`` and ``]`` are escaped before fnmatch sees them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from fnmatch import translate
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Kind = Literal["user", "server", "room"]

RULE_TYPES: dict[str, Kind] = {}
for _kind in ("user", "server", "room"):
    for _prefix in ("m.policy.rule.", "m.room.rule.", "org.matrix.mjolnir.rule."):
        RULE_TYPES[_prefix + _kind] = _kind  # type: ignore[assignment]
BAN = frozenset({"m.ban", "org.matrix.mjolnir.ban"})
MAX_ENTITY = 512  # a longer "glob" is not a rule anyone wrote by hand
MAX_REASON = 500  # the ban reason is shown to the banned user and in the staff line
_BRACKET = re.compile(r"[\[\]]")


class Rule(BaseModel):
    """One rule of one list (stored in policy_rules)."""

    model_config = ConfigDict(frozen=True)

    list_room: str
    type: str
    state_key: str
    kind: Kind
    entity: str
    recommendation: str
    reason: str = ""
    event_id: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.list_room, self.type, self.state_key)

    @property
    def is_ban(self) -> bool:
        return self.recommendation in BAN and self.kind in ("user", "server")


def rule_from_state(list_room: str, raw: dict[str, Any]) -> Rule | None:
    """The rule a state event states, or None (not a rule type, removed, or malformed)."""
    etype = raw.get("type")
    state_key = raw.get("state_key")
    content = raw.get("content")
    if etype not in RULE_TYPES or not isinstance(state_key, str) or not isinstance(content, dict):
        return None
    entity = content.get("entity")
    recommendation = content.get("recommendation")
    reason = content.get("reason")
    if not isinstance(entity, str) or not entity or len(entity) > MAX_ENTITY:
        return None
    if not isinstance(recommendation, str):
        return None
    event_id = raw.get("event_id")
    return Rule(
        list_room=list_room,
        type=str(etype),
        state_key=state_key,
        kind=RULE_TYPES[str(etype)],
        entity=entity,
        recommendation=recommendation,
        reason=reason[:MAX_REASON] if isinstance(reason, str) else "",
        event_id=event_id if isinstance(event_id, str) else "",
    )


def is_rule_type(event_type: str) -> bool:
    return event_type in RULE_TYPES


def glob_regex(glob: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """``*`` any run of characters, ``?`` exactly one, everything else itself."""
    escaped = _BRACKET.sub(lambda m: f"[{m.group()}]", glob)
    return re.compile(translate(escaped), re.IGNORECASE if ignore_case else 0)


def glob_match(glob: str, value: str, *, ignore_case: bool = False) -> bool:
    return glob_regex(glob, ignore_case=ignore_case).match(value) is not None


def server_of(user_id: str) -> str:
    """The server part of a user id (with its port, if any)."""
    return user_id.split(":", 1)[1] if ":" in user_id else ""


def _has_wildcard(glob: str) -> bool:
    return "*" in glob or "?" in glob


class BanRules:
    """The ban rules of every followed list, ready to match user ids fast.

    User ids are case-sensitive (the spec's grammar); server names are DNS names and match
    regardless of case, as Synapse's server ACLs do. Rules without a wildcard (most of any
    list) are one dict lookup; only the globs are scanned.
    """

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.exact_users: dict[str, list[Rule]] = {}
        self.exact_servers: dict[str, list[Rule]] = {}
        self.globs: list[tuple[re.Pattern[str], Rule]] = []
        for rule in rules:
            if not rule.is_ban:
                continue
            server = rule.kind == "server"
            if not _has_wildcard(rule.entity):
                table = self.exact_servers if server else self.exact_users
                table.setdefault(rule.entity.lower() if server else rule.entity, []).append(rule)
            else:
                self.globs.append((glob_regex(rule.entity, ignore_case=server), rule))

    def matching(self, user_id: str) -> list[Rule]:
        """Every ban rule that names ``user_id``, user rules first, in a stable order."""
        server = server_of(user_id)
        found = list(self.exact_users.get(user_id, ()))
        found += self.exact_servers.get(server.lower(), ())
        for pattern, rule in self.globs:
            if pattern.match(user_id if rule.kind == "user" else server):
                found.append(rule)
        return sorted(found, key=lambda r: (r.kind != "user", r.key))

    def first(self, user_id: str) -> Rule | None:
        found = self.matching(user_id)
        return found[0] if found else None

    def __len__(self) -> int:
        return (
            sum(map(len, self.exact_users.values()))
            + sum(map(len, self.exact_servers.values()))
            + len(self.globs)
        )
