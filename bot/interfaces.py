"""Small typed interfaces that capabilities share, so they never reach into each other.

The core and a capability that needs another one depend on these Protocols only; the
capability that provides the behaviour implements them (structural typing, no import).
"""

from __future__ import annotations

from typing import Protocol


class CustomerDirectory(Protocol):
    """Who a Matrix user is as a customer: implemented by access, used by the core and escalation."""

    async def knows(self, user_id: str, room_id: str | None = None) -> bool:
        """Whether an invite from ``user_id`` (into ``room_id``) is accepted."""
        ...

    async def email_of(self, user_id: str) -> str | None:
        """The registry's e-mail address of ``user_id``, if it has one."""
        ...

    async def org_of(self, user_id: str) -> str | None:
        """The id of the organisation ``user_id`` belongs to, if any."""
        ...
