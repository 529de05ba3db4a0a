"""The Support service: one per App, composed of the mixins by area."""

from __future__ import annotations

from commands.support.alerts import AlertsMixin
from commands.support.tickets import TicketsMixin


class Support(TicketsMixin, AlertsMixin):
    """One per App: calendar, SLA timers, out-of-hours replies, board, surveys, status, report."""
