"""Prometheus metrics of one bot instance (own registry, so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter(
            "backchannel_events_total", "Events handled, by kind", ["kind"], registry=self.registry
        )
        self.commands = Counter(
            "backchannel_commands_total",
            "Commands, by name and outcome",
            ["command", "outcome"],
            registry=self.registry,
        )
        self.handler_seconds = Histogram(
            "backchannel_handler_seconds",
            "Time to handle one event",
            registry=self.registry,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.sync_lag = Gauge(
            "backchannel_sync_lag_seconds",
            "Age of the newest event at the time it was handled",
            registry=self.registry,
        )
        self.last_sync = Gauge(
            "backchannel_last_sync_timestamp_seconds",
            "When the last sync succeeded",
            registry=self.registry,
        )
        self.errors = Counter(
            "backchannel_errors_total",
            "Errors, by where they happened",
            ["where"],
            registry=self.registry,
        )

        self.undecryptable = Counter(
            "backchannel_undecryptable_events_total",
            "Encrypted events the bot could not decrypt when they arrived (kept for a retry)",
            registry=self.registry,
        )
        self.decrypted_late = Counter(
            "backchannel_decrypted_late_events_total",
            "Kept undecryptable events decrypted later, when their room key arrived",
            registry=self.registry,
        )
        self.malformed = Counter(
            "backchannel_malformed_fields_total",
            "Event fields of the wrong type, treated as absent, by field",
            ["field"],
            registry=self.registry,
        )
        self.invites = Counter(
            "backchannel_invites_total",
            "Invites, by outcome (joined_wanted, joined_dm, declined_<why>)",
            ["outcome"],
            registry=self.registry,
        )
        self.dms_left = Counter(
            "backchannel_dms_left_total",
            "DMs the bot left because a third person was invited or joined",
            registry=self.registry,
        )

    def synced(self, now: float) -> None:
        self.last_sync.set(now)

    def render(self) -> bytes:
        return generate_latest(self.registry)
