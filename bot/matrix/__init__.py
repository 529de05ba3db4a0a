"""The Matrix gateway: the only code that talks to nio."""

from bot.matrix.errors import MatrixError, check
from bot.matrix.gateway import MatrixGateway, Session
from bot.matrix.media import Media
from bot.text import html_to_plain

__all__ = ["MatrixError", "MatrixGateway", "Media", "Session", "check", "html_to_plain"]
