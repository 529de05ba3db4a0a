"""Who the customer is (through access's CustomerDirectory) and the RT metrics."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge

from bot.context import Services

log = logging.getLogger(__name__)


# ----------------------------------------------------------------- who is the customer


class Directory:
    """E-mail and organisation of Matrix users, from the access registry when it has them.

    Access implements ``CustomerDirectory`` (bot/interfaces.py); without access every
    answer is None. Tests may set ``overrides``.
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        self.overrides: dict[str, tuple[str | None, str | None]] = {}  # user -> (email, org)

    async def _ask(self, user_id: str, which: int) -> str | None:
        if user_id in self.overrides:
            return self.overrides[user_id][which]
        directory = self.services.access
        if directory is None:
            return None
        try:
            if which == 0:
                return await directory.email_of(user_id)
            return await directory.org_of(user_id)
        except Exception:  # a registry failure must not stop an escalation
            log.exception("customer directory lookup for %s failed", user_id)
            return None

    async def email_of(self, user_id: str) -> str | None:
        return await self._ask(user_id, 0)

    async def org_of(self, user_id: str) -> str | None:
        return await self._ask(user_id, 1)


class RTMetrics:
    """The escalation's own series, in the bot's registry (served on /metrics)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.outbox_pending = Gauge(
            "backchannel_rt_outbox_pending", "RT writes waiting in the outbox", registry=registry
        )
        self.last_poll = Gauge(
            "backchannel_rt_last_poll_timestamp_seconds",
            "When the RT transaction poll last succeeded",
            registry=registry,
        )
        self.escalations = Counter(
            "backchannel_rt_escalations_total",
            "!ticket / reaction escalations, by outcome",
            ["outcome"],
            registry=registry,
        )
        self.outbox = Counter(
            "backchannel_rt_outbox_items_total",
            "Outbox items finished, by result (done, dead)",
            ["result"],
            registry=registry,
        )
        self.relayed = Counter(
            "backchannel_rt_relayed_total",
            "RT transactions relayed to Matrix, by type",
            ["type"],
            registry=registry,
        )
