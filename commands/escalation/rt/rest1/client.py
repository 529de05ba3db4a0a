"""The REST 1.0 client: the poll, ticket, history and session layers, plus `check_online`."""

from __future__ import annotations

from urllib.parse import quote

from commands.escalation.rt.errors import RTAuthError, RTError, RTUnavailable
from commands.escalation.rt.models import ticketsql_quote
from commands.escalation.rt.rest1.poll import Rest1Poll


class RTRest1Client(Rest1Poll):
    """REST 1.0 with a session cookie; every call is bounded by the settings' timeouts.

    One layer a job, each on top of the one below: session (login, transport, errors),
    history (transactions and their parts), tickets (reads and writes), poll (new
    transactions); this class adds the start-up check.
    """

    api = "rest1"

    async def check_online(self, queue: str | None = None) -> list[str]:
        """Problems with the [rt] settings as seen from RT, each naming the setting; [] = fine."""
        s = self.settings
        queue = queue or s.queue
        try:
            await self.login()
        except RTAuthError:
            return ["[rt] username/password: RT rejected the login (401)"]
        except RTUnavailable as exc:
            return [f"[rt] url: RT not reachable at {s.url}: {exc}"]
        except RTError as exc:
            return [f"[rt] url: {s.url} does not look like RT with REST 1.0: {exc}"]
        try:
            ans = await self._get("queue", f"queue/{quote(queue, safe='')}")
            rec = (ans.records() or [{}])[0]
        except RTError:
            rec = {}
        if not rec.get("Name"):
            return [
                f"[rt] queue: queue {queue!r} does not exist or the bot cannot see it (SeeQueue)"
            ]
        problems: list[str] = []
        # REST 1.0 lists a queue's CFs only to admins; a ticket shows every CF it can see.
        try:
            ids = await self._search_ids(f"Queue = {ticketsql_quote(queue)}", orderby="-id")
        except RTError as exc:
            return [f"[rt] queue: cannot search queue {queue!r}: {exc}"]
        if ids:
            try:
                t = await self.get_ticket(ids[0])
            except RTError as exc:
                return [f"[rt] queue: cannot read tickets of {queue!r} (ShowTicket): {exc}"]
            names = {c.name for c in t.custom_fields}
            for key, name in (
                ("matrix_room_field", s.matrix_room_field),
                ("matrix_thread_field", s.matrix_thread_field),
            ):
                if name.lower() not in {n.lower() for n in names}:
                    problems.append(
                        f"[rt] {key}: ticket custom field {name!r} is not applied to queue"
                        f" {queue!r} or the bot lacks SeeCustomField"
                    )
        return problems
