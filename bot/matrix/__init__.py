"""The Matrix gateway: the only code that talks to nio."""

from bot.matrix.gateway import MatrixError, MatrixGateway, Media, Session, check
from bot.text import html_to_plain

__all__ = ["MatrixError", "MatrixGateway", "Media", "Session", "check", "html_to_plain"]
