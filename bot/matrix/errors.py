"""Errors of the Matrix gateway: every nio error response becomes a MatrixError."""

from __future__ import annotations

import logging
from typing import Any

import nio

log = logging.getLogger(__name__)


class MatrixError(Exception):
    """A homeserver call failed after nio's bounded retries."""

    def __init__(
        self, what: str, detail: str, status: str | None = None, retry_after_ms: int | None = None
    ) -> None:
        super().__init__(f"{what}: {detail}")
        self.status = status
        self.retry_after_ms = retry_after_ms  # M_LIMIT_EXCEEDED: when the server allows again


def check(resp: Any, ok: type[Any] | tuple[type[Any], ...], what: str) -> Any:
    """``resp`` if it is of type ``ok``, else MatrixError (nio returns errors as values).

    The result is Any: matrix-nio ships no type information.
    """
    if isinstance(resp, ok):
        return resp
    if isinstance(resp, nio.ErrorResponse):
        raise MatrixError(
            what, resp.message or str(resp), resp.status_code, getattr(resp, "retry_after_ms", None)
        )
    raise MatrixError(what, f"unexpected response {type(resp).__name__}")
