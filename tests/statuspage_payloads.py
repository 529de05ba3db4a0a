"""Statuspage payloads in the shapes Atlassian documents (webhooks, /api/v2/summary.json)."""

from __future__ import annotations

from typing import Any

PAGE_ID = "j2mfxwj97wnj"


def incident(
    status: str = "investigating",
    updated_at: str = "2026-06-17T10:00:00+02:00",
    body: str = "We are investigating elevated error rates on S3 in sto2.",
    inc_id: str = "lbkhbwn21v5q",
    name: str = "S3 errors in sto2",
) -> dict[str, Any]:
    return {
        "backfilled": False,
        "created_at": "2026-06-17T09:55:00+02:00",
        "impact": "major",
        "impact_override": None,
        "monitoring_at": None,
        "postmortem_body": None,
        "postmortem_body_last_updated_at": None,
        "postmortem_ignored": False,
        "postmortem_notified_subscribers": False,
        "postmortem_notified_twitter": False,
        "postmortem_published_at": None,
        "resolved_at": None,
        "scheduled_auto_transition": False,
        "scheduled_for": None,
        "scheduled_remind_prior": False,
        "scheduled_reminded_at": None,
        "scheduled_until": None,
        "shortlink": f"https://stspg.io/{inc_id}",
        "status": status,
        "updated_at": updated_at,
        "id": inc_id,
        "organization_id": None,
        "name": name,
        "incident_updates": [
            {
                "body": body,
                "created_at": updated_at,
                "display_at": updated_at,
                "id": f"u-{status}",
                "incident_id": inc_id,
                "status": status,
                "twitter_updated_at": None,
                "updated_at": updated_at,
                "wants_twitter_update": False,
            }
        ],
    }


def meta() -> dict[str, Any]:
    return {
        "unsubscribe": "https://status.example/?unsubscribe=abc",
        "documentation": "https://help.statuspage.io/knowledge_base/topics/webhook-notifications",
    }


def incident_webhook(**kw: Any) -> dict[str, Any]:
    return {
        "meta": meta(),
        "page": {
            "id": PAGE_ID,
            "status_indicator": "major",
            "status_description": "Partial System Outage",
        },
        "incident": incident(**kw),
    }


def component_webhook(status: str = "major_outage") -> dict[str, Any]:
    return {
        "meta": meta(),
        "page": {"id": PAGE_ID, "status_indicator": "major", "status_description": "Major Outage"},
        "component_update": {
            "created_at": "2026-06-17T10:01:00+02:00",
            "new_status": status,
            "old_status": "operational",
            "id": "k7730b5v92bv",
            "component_id": "rb5wq1dczvbm",
        },
        "component": {
            "created_at": "2024-01-01T00:00:00Z",
            "id": "rb5wq1dczvbm",
            "name": "S3 sto2",
            "status": status,
        },
    }


def summary(
    incidents: list[dict[str, Any]], updated_at: str = "2026-06-17T10:00:00+02:00"
) -> dict[str, Any]:
    degraded = bool(incidents)
    return {
        "page": {
            "id": PAGE_ID,
            "name": "Safespring",
            "url": "https://status.safespring.com",
            "time_zone": "Europe/Stockholm",
            "updated_at": updated_at,
        },
        "status": {
            "indicator": "major" if degraded else "none",
            "description": "Partial System Outage" if degraded else "All Systems Operational",
        },
        "components": [
            {
                "id": "rb5wq1dczvbm",
                "name": "S3 sto2",
                "status": "partial_outage" if degraded else "operational",
                "created_at": "2024-01-01T00:00:00Z",
                "updated_at": updated_at,
                "position": 1,
                "description": None,
                "showcase": True,
                "start_date": None,
                "group_id": None,
                "page_id": PAGE_ID,
                "group": False,
                "only_show_if_degraded": False,
            }
        ],
        "incidents": incidents,
        "scheduled_maintenances": [],
    }
