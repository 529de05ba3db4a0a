"""Errors of the RT clients: what failed, and whether a write may have happened."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class RTError(Exception):
    """Any failure talking to RT. `status` is the HTTP status when there was one."""

    def __init__(
        self, message: str, *, status: int | None = None, messages: list[str] | None = None
    ):
        super().__init__(message)
        self.status = status
        self.messages = messages or []


class RTAuthError(RTError):
    """401: the token is missing, wrong or revoked ([rt] token / token_file)."""


class RTNotFound(RTError):
    """404: no such ticket / queue / transaction (or not visible to the bot)."""


class RTPermissionError(RTError):
    """403, or RT's "Permission Denied" (also what a nonexistent queue looks like on create)."""


class RTUnavailable(RTError):
    """Network error, timeout or 5xx after the retries: try again later.

    `maybe_applied` is set when a non-idempotent write may have reached RT anyway (timeout or
    5xx after the request was sent): the caller must reconcile before retrying it.
    """

    def __init__(self, message: str, *, status: int | None = None, maybe_applied: bool = False):
        super().__init__(message, status=status)
        self.maybe_applied = maybe_applied


class RTRejected(RTError):
    """RT understood the request and refused it (4xx, or a failure in a 200 message list)."""
