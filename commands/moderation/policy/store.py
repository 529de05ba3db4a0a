"""What policy lists keep in SQLite: each list's rules, and each ban a rule caused.

The rules are kept so a restart can tell what changed while the bot was down (a rule
removed then must still lift its bans). A ban row says which rule banned whom, so a removed
rule unbans exactly those people and never someone banned by hand. Shadow rows remember a
"would have banned" line was posted, so it is posted once, not at every re-read.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from bot.store import Store
from commands.moderation.policy.rules import Rule

MIGRATIONS = [
    """
    CREATE TABLE policy_rules (
      list_room TEXT NOT NULL,
      type TEXT NOT NULL,
      state_key TEXT NOT NULL,
      kind TEXT NOT NULL,
      entity TEXT NOT NULL,
      recommendation TEXT NOT NULL,
      reason TEXT NOT NULL DEFAULT '',
      event_id TEXT NOT NULL DEFAULT '',
      PRIMARY KEY (list_room, type, state_key)
    );
    CREATE TABLE policy_bans (
      room_id TEXT NOT NULL,
      user_id TEXT NOT NULL,
      list_room TEXT NOT NULL,
      type TEXT NOT NULL,
      state_key TEXT NOT NULL,
      entity TEXT NOT NULL,
      audit_id INTEGER,
      shadow INTEGER NOT NULL DEFAULT 0,
      lifted_by TEXT,
      at REAL NOT NULL,
      PRIMARY KEY (room_id, user_id)
    )
    """,
]


class BanRow(BaseModel):
    """The ban (or shadow would-be ban) of one user, and the rule that caused it."""

    room_id: str
    user_id: str
    list_room: str
    type: str
    state_key: str
    entity: str
    audit_id: int | None = None
    shadow: bool = False
    lifted_by: str | None = None  # someone unbanned by hand: this rule leaves them alone
    at: float

    @property
    def rule_key(self) -> tuple[str, str, str]:
        return (self.list_room, self.type, self.state_key)


class PolicyStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def migrate(self) -> None:
        await self.store.migrate("policy_lists", MIGRATIONS)

    async def rules(self, list_room: str | None = None) -> list[Rule]:
        if list_room is None:
            rows = await self.store.fetchall("SELECT * FROM policy_rules")
        else:
            rows = await self.store.fetchall(
                "SELECT * FROM policy_rules WHERE list_room=?", (list_room,)
            )
        return [Rule(**row) for row in rows]

    async def put_rule(self, rule: Rule) -> None:
        await self.store.execute(
            "INSERT INTO policy_rules(list_room, type, state_key, kind, entity, recommendation,"
            " reason, event_id) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(list_room, type, state_key)"
            " DO UPDATE SET kind=excluded.kind, entity=excluded.entity,"
            " recommendation=excluded.recommendation, reason=excluded.reason,"
            " event_id=excluded.event_id",
            (
                rule.list_room,
                rule.type,
                rule.state_key,
                rule.kind,
                rule.entity,
                rule.recommendation,
                rule.reason,
                rule.event_id,
            ),
        )

    async def drop_rule(self, key: tuple[str, str, str]) -> None:
        await self.store.execute(
            "DELETE FROM policy_rules WHERE list_room=? AND type=? AND state_key=?", key
        )

    async def replace_list(self, list_room: str, rules: list[Rule]) -> None:
        """The list's rules are now exactly ``rules`` (a full re-read)."""
        async with self.store.transaction() as tx:
            await tx.execute("DELETE FROM policy_rules WHERE list_room=?", (list_room,))
            await tx.executemany(
                "INSERT INTO policy_rules(list_room, type, state_key, kind, entity,"
                " recommendation, reason, event_id) VALUES (?,?,?,?,?,?,?,?)",
                [
                    (
                        r.list_room,
                        r.type,
                        r.state_key,
                        r.kind,
                        r.entity,
                        r.recommendation,
                        r.reason,
                        r.event_id,
                    )
                    for r in rules
                ],
            )

    async def bans(self, room_id: str) -> dict[str, BanRow]:
        rows = await self.store.fetchall("SELECT * FROM policy_bans WHERE room_id=?", (room_id,))
        return {row["user_id"]: _ban(row) for row in rows}

    async def ban(self, room_id: str, user_id: str) -> BanRow | None:
        row = await self.store.fetchone(
            "SELECT * FROM policy_bans WHERE room_id=? AND user_id=?", (room_id, user_id)
        )
        return _ban(row) if row else None

    async def put_ban(self, row: BanRow) -> None:
        await self.store.execute(
            "INSERT INTO policy_bans(room_id, user_id, list_room, type, state_key, entity,"
            " audit_id, shadow, lifted_by, at) VALUES (?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT(room_id, user_id) DO UPDATE SET list_room=excluded.list_room,"
            " type=excluded.type, state_key=excluded.state_key, entity=excluded.entity,"
            " audit_id=excluded.audit_id, shadow=excluded.shadow, lifted_by=excluded.lifted_by,"
            " at=excluded.at",
            (
                row.room_id,
                row.user_id,
                row.list_room,
                row.type,
                row.state_key,
                row.entity,
                row.audit_id,
                int(row.shadow),
                row.lifted_by,
                row.at,
            ),
        )

    async def drop_ban(self, room_id: str, user_id: str) -> None:
        await self.store.execute(
            "DELETE FROM policy_bans WHERE room_id=? AND user_id=?", (room_id, user_id)
        )

    async def unbanned_by(self, room_id: str, user_id: str, since_audit: int | None) -> str | None:
        """Who had the bot unban ``user_id`` after audit row ``since_audit`` (`!unban`, ↩️).

        The bot's own unban events never come back to it through sync: the audit trail is
        where a moderator's unban through the bot shows.
        """
        value = await self.store.fetchval(
            "SELECT actor FROM moderation_audit WHERE action='unban' AND target=? AND room_id=?"
            " AND id>? AND ok=1 AND shadow=0 AND protection IS NOT ? ORDER BY id DESC LIMIT 1",
            (user_id, room_id, since_audit or 0, "policy_lists"),
        )
        return str(value) if value else None


def _ban(row: dict[str, Any]) -> BanRow:
    return BanRow(**{**row, "shadow": bool(row["shadow"])})
