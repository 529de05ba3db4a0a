"""The RT operations escalation needs, whichever API (REST 2.0 or REST 1.0) serves them.

Both backends return the same pydantic models and raise the same typed errors, so features
never ask which RT they talk to. Derived from the REST 2.0 client's public methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

from commands.escalation.rt.errors import (
    RTAuthError,
    RTError,
    RTNotFound,
    RTPermissionError,
    RTRejected,
    RTUnavailable,
)
from commands.escalation.rt.models import (
    Attachment,
    RTFile,
    Ticket,
    TicketSummary,
    Transaction,
    ticketsql_quote,
)
from commands.escalation.settings import RTSettings

__all__ = [
    "Attachment",
    "RTAuthError",
    "RTClient",
    "RTError",
    "RTFile",
    "RTNotFound",
    "RTPermissionError",
    "RTRejected",
    "RTUnavailable",
    "Ticket",
    "TicketSummary",
    "Transaction",
    "ticketsql_quote",
]


@runtime_checkable
class RTClient(Protocol):
    """One RT connection for the bot's lifetime (an async context manager)."""

    settings: RTSettings
    api: str  # "rest2" or "rest1": for logs and check-config only, never for branching

    async def __aenter__(self) -> RTClient: ...
    async def __aexit__(self, *exc: object) -> None: ...
    async def close(self) -> None: ...

    async def version(self) -> str: ...
    async def ping(self) -> bool: ...
    async def whoami(self) -> str: ...
    async def user(self, name_or_id: str | int) -> dict[str, Any]: ...
    async def check_online(self, queue: str | None = None) -> list[str]: ...

    async def create_ticket(
        self,
        *,
        queue: str,
        subject: str,
        requestor: str | None = None,
        html: str | None = None,
        text: str | None = None,
        priority: int | None = None,
        custom_fields: Mapping[str, str] | None = None,
        attachments: Iterable[RTFile] = (),
    ) -> int: ...

    async def get_ticket(self, ticket_id: int) -> Ticket: ...

    async def update_ticket(self, ticket_id: int, fields: Mapping[str, Any]) -> list[str]:
        """Keys as REST 2.0 names them: Status, Owner, Subject, Priority, CustomFields={..}."""
        ...

    async def resolve(self, ticket_id: int) -> list[str]: ...
    async def set_owner(self, ticket_id: int, owner: str) -> list[str]: ...

    async def correspond(
        self,
        ticket_id: int,
        *,
        html: str | None = None,
        text: str | None = None,
        attachments: Iterable[RTFile] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> int: ...

    async def comment(
        self,
        ticket_id: int,
        *,
        html: str | None = None,
        text: str | None = None,
        attachments: Iterable[RTFile] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> int: ...

    async def search_tickets(
        self, query: str, fields: str = "Subject,Status,Queue"
    ) -> list[TicketSummary]: ...

    async def find_by_custom_field(
        self, field_name: str, value: str, queue: str | None = None
    ) -> list[TicketSummary]: ...

    async def transactions_since(
        self,
        queue: str,
        high_water: int,
        exclude_creator: str | None = None,
        types: Iterable[str] = ("Correspond", "Comment", "Status"),
    ) -> list[Transaction]: ...

    async def recent_messages_by(
        self, ticket_id: int, creator: str | None, limit: int = 20
    ) -> list[int]:
        """Ids of the newest Correspond/Comment txns of a ticket (by `creator`), newest first."""
        ...

    async def transaction_content(self, txn_id: int) -> list[Attachment]: ...
    async def attachment_bytes(self, attachment_id: int) -> bytes: ...
    async def latest_transaction_id(self, queue: str) -> int: ...
