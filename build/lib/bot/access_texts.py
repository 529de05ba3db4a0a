"""What the doorkeeper says: to the person, and to the staff room. All user text escaped here."""

from __future__ import annotations

from bot.access_models import AccessRequest, Org
from bot.access_settings import AccessSettings
from bot.html import bullet_list, code, esc, user_pill


def welcome(settings: AccessSettings, prefix: str, org: Org) -> str:
    phones = " / ".join(esc(p) for p in settings.p1_phones)
    rules = [
        "<b>No secrets</b>: never post passwords, API keys, tokens or private keys; "
        "I remove them and you must rotate them.",
        "<b>English</b>, so every engineer and customer can follow.",
        f"<b>Hours</b>: {esc(settings.support_hours)}. Outside them, answers wait for the next workday.",
        f"<b>P1 (production down)</b>: phone {phones} at any time; do not wait for the room.",
        f"<b>Escalate</b> a thread to a ticket with {code(prefix + 'ticket')}; "
        f"e-mail {esc(settings.support_email)} works too.",
    ]
    extra = f"<br>{esc(settings.welcome_extra)}" if settings.welcome_extra else ""
    return (
        f"Welcome! You are admitted to the Safespring support room for {esc(org.name)} "
        f"and I have invited you; accept the invite to enter. The room rules:"
        f"{bullet_list(rules)}{extra}"
    )


def no_tier(settings: AccessSettings, org: Org, lack: str) -> str:
    if lack == "contract_ended" and org.contract_end:
        state = f"the support contract of {esc(org.name)} ended on {org.contract_end.isoformat()}"
    else:
        state = f"{esc(org.name)} does not have {code(settings.required_product)}"
    return (
        f"Thank you for asking. The support room is part of {code(settings.required_product)} "
        f"(premium includes it), and {state}. {esc(settings.order_hint)} "
        f"Meanwhile our engineers answer e-mail at {esc(settings.support_email)}."
    )


def unknown_org(org_id: str, prefix: str) -> str:
    return (
        f"I don't know the organisation {code(org_id)}. Check the id in your contract, "
        f"or write {code(prefix + 'join you@yourcompany.com')} with your work e-mail."
    )


def unknown_domain(email: str, settings: AccessSettings, prefix: str) -> str:
    return (
        f"I don't know an organisation with e-mail addresses like {esc(email)}. "
        f"Write {code(prefix + 'join ORG-ID')} with your organisation's id, or e-mail "
        f"{esc(settings.support_email)}."
    )


def request_sent(req_id: int, org: Org) -> str:
    return (
        f"Thanks! I have asked the Safespring team to confirm that you belong to {esc(org.name)} "
        f"(request #{req_id}). I will tell you here when they have decided."
    )


def knock_needs_org(prefix: str) -> str:
    return (
        "Hi! I saw your knock on the Safespring support room, but I could not tell which "
        f"organisation you belong to. Reply here with {code(prefix + 'join ORG-ID')} or "
        f"{code(prefix + 'join you@yourcompany.com')}."
    )


def card(req: AccessRequest, org: Org) -> str:
    email = esc(req.email) if req.email else "<i>not given</i>"
    return (
        f"🚪 <b>Access request #{req.id}</b> ({esc(req.via)}): {user_pill(req.user_id)} "
        f"for <b>{esc(org.id)}</b> ({esc(org.name)}), e-mail {email}.<br>"
        f"Not automatic because {esc(req.why)}.<br>"
        f"Admins: react ✅ to approve or ❌ to deny "
        f"(or {code(f'!access approve {req.id}')} / {code(f'!access deny {req.id} REASON')})."
    )


def card_decided(req: AccessRequest, org: Org) -> str:
    verdict = "✅ approved" if req.state == "approved" else "❌ denied"
    reason = f": {esc(req.decision_reason)}" if req.decision_reason else ""
    return (
        f"🚪 Access request #{req.id}: {user_pill(req.user_id)} for <b>{esc(org.id)}</b>, "
        f"{verdict} by {esc(req.decided_by or '?')}{reason}."
    )


def denied(settings: AccessSettings, reason: str | None) -> str:
    why = f" The reason given: {esc(reason)}." if reason else ""
    return (
        f"Sorry, the Safespring team did not approve your request to join the support room.{why} "
        f"If you think this is a mistake, e-mail {esc(settings.support_email)}."
    )


def removed(settings: AccessSettings, prefix: str, why: str) -> str:
    return (
        f"You no longer have access to the Safespring support room: {esc(why)}. "
        f"If your organisation has {code(settings.required_product)}, ask again with "
        f"{code(prefix + 'join ORG-ID')} here; support by e-mail at {esc(settings.support_email)} "
        "is unaffected."
    )


def staff_line(
    actor: str, action: str, user_id: str | None, org_id: str | None, detail: str
) -> str:
    who = f" {user_pill(user_id)}" if user_id else ""
    org = f" ({esc(org_id)})" if org_id else ""
    by = "the bot" if actor.startswith("bot") else esc(actor)
    tail = f": {esc(detail)}" if detail else ""
    return f"🔐 access {esc(action)}{who}{org} by {by}{tail}"
