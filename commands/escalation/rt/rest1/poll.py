"""The REST 1.0 poll for new transactions: REST 1.0 has no transaction search.

A poll is one ticket search by LastUpdated plus the history of at most `poll_max_tickets`
updated tickets (see `transactions_since`). RT stamps LastUpdated in whole seconds, so a
ticket's stamp counts as read only once a history read started after that second was over.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp

from commands.escalation.rt.errors import RTError
from commands.escalation.rt.models import Transaction, ticketsql_quote
from commands.escalation.rt.rest1.tickets import Rest1Tickets
from commands.escalation.rt.rest1_form import parse_rt_date
from commands.escalation.settings import RTSettings

log = logging.getLogger(__name__)

# Widen every LastUpdated window: RT stores seconds, commits after the poll may land late, and
# the bot's clock may differ from RT's. Duplicates are removed by transaction id.
POLL_OVERLAP_S = 120


# RT stamps LastUpdated in whole seconds; a read this long after a stamp was first seen
# started after that second ended, so it saw every update carrying that stamp.
STAMP_SETTLED_S = 1.2


@dataclass
class _PollState:
    """What the poll remembers between calls (in memory; a restart re-derives it)."""

    last_start: float | None = None  # time.monotonic() at the start of the last good poll
    deferred: dict[int, int] = field(default_factory=dict)  # ticket -> lower txn bound
    returned: set[int] = field(default_factory=set)  # txn ids already handed out
    seen: dict[int, str] = field(default_factory=dict)  # ticket -> LastUpdated when read
    # ticket -> (LastUpdated, time.monotonic() when a search first showed it): RT's stamps are
    # whole seconds, so a history read counts as complete for a stamp only when it started
    # after that second was surely over (an update later in the same second keeps the stamp).
    first_seen: dict[int, tuple[str, float]] = field(default_factory=dict)


class Rest1Poll(Rest1Tickets):
    """New transactions of a queue since a high-water mark, at a bounded cost per poll."""

    def __init__(self, settings: RTSettings, *, session: aiohttp.ClientSession | None = None):
        super().__init__(settings, session=session)
        self._poll = _PollState()

    async def transactions_since(
        self,
        queue: str,
        high_water: int,
        exclude_creator: str | None = None,
        types: Iterable[str] = ("Correspond", "Comment", "Status"),
    ) -> list[Transaction]:
        """New transactions of the queue with id > high_water, ascending.

        REST 1.0 has no transaction search, so one poll is bounded like this:
        1. one ticket search `Queue = q AND LastUpdated >= -N seconds` (N = time since the last
           poll + overlap; on the first poll, since the high-water transaction was created):
           its cost does not depend on how many tickets are open, only on how many changed;
        2. the history (one request) of at most `poll_max_tickets` of those tickets, the ones
           waiting longest first; the others are remembered and read in the next polls;
        3. one request per new transaction, at most `poll_max_transactions` per poll.
        So a poll sends at most 1 + poll_max_tickets + poll_max_transactions requests (plus one
        on the first poll), and 1 when nothing changed, however many tickets are open.
        """
        wanted = set(types)
        st = self._poll
        started = time.monotonic()
        window = await self._poll_window(high_water)
        query = f"Queue = {ticketsql_quote(queue)}"
        if window is not None:
            query += f" AND LastUpdated >= '-{window} seconds'"
        updated = await self._search_updated(query)
        searched = time.monotonic()
        for tid, stamp in updated.items():
            if st.first_seen.get(tid, ("", 0.0))[0] != stamp:
                st.first_seen[tid] = (stamp, searched)
        st.first_seen = {t: v for t, v in st.first_seen.items() if t in updated}
        # A ticket whose LastUpdated is what it was when its history was last read has
        # nothing new: the overlap window does not make the poll read it again.
        for tid, stamp in updated.items():
            if st.seen.get(tid) != stamp:
                st.deferred.setdefault(tid, high_water)
        st.seen = {t: v for t, v in st.seen.items() if t in updated}
        # Longest waiting first: deferred ones keep their place (dict order = insertion order).
        batch = list(st.deferred.items())[: self.settings.poll_max_tickets]
        budget = self.settings.poll_max_transactions
        found: list[Transaction] = []
        for tid, bound in batch:
            read_at = time.monotonic()
            history = await self._history(tid)
            new = [
                (t, d)
                for t, d in history
                if t > bound
                and t not in st.returned
                and not (exclude_creator and d.endswith(f" by {exclude_creator}"))
            ]
            done = True
            for txn_id, _ in new:
                if budget <= 0:
                    done = False
                    break
                budget -= 1
                txn = await self._transaction(tid, txn_id)
                st.returned.add(txn_id)
                if txn is None or txn.type not in wanted:
                    continue
                if exclude_creator and txn.creator == exclude_creator:
                    continue
                found.append(txn)
            if done:
                del st.deferred[tid]
                stamp_at = st.first_seen.get(tid, ("", read_at))[1]
                if tid in updated and read_at >= stamp_at + STAMP_SETTLED_S:
                    st.seen[tid] = updated[tid]
        if st.deferred:
            log.info("RT poll: %d updated ticket(s) left for the next poll", len(st.deferred))
        st.last_start = started
        floor = min([high_water, *st.deferred.values()])
        st.returned = {t for t in st.returned if t > floor}
        found.sort(key=lambda t: t.id)
        return found

    async def _poll_window(self, high_water: int) -> int | None:
        """Seconds back the LastUpdated search must reach; None = the whole queue."""
        st = self._poll
        if st.last_start is not None:
            return math.ceil(time.monotonic() - st.last_start) + POLL_OVERLAP_S
        if high_water <= 0:
            return None
        # First poll of this process: reach back to when the high-water transaction happened.
        ans = await self._call("GET", f"transaction/{int(high_water)}", params={"format": "l"})
        try:
            recs = self._raise_for("transaction", ans).records()
        except RTError:
            recs = []
        created = parse_rt_date(recs[0].get("Created")) if recs else None
        if created is None:
            # Not the whole queue (that could be thousands of histories): one day back.
            log.warning("RT poll: transaction %d unreadable; looking back one day", high_water)
            return 86400 + POLL_OVERLAP_S
        return max(0, math.ceil((datetime.now(UTC) - created).total_seconds())) + POLL_OVERLAP_S

    async def _search_updated(self, query: str) -> dict[int, str]:
        """Ticket id -> LastUpdated (RT's string) of the matches, oldest update first."""
        ans = await self._get(
            "search",
            "search/ticket",
            {"query": query, "format": "s", "fields": "LastUpdated", "orderby": "LastUpdated"},
        )
        out: dict[int, str] = {}
        for line in ans.payload.split("\n"):
            cells = line.split("\t")
            if len(cells) >= 2 and cells[0].strip().isdigit():
                out[int(cells[0])] = cells[1].strip()
        return out

    async def latest_transaction_id(self, queue: str) -> int:
        """The newest transaction of the queue: the history of its latest updated ticket."""
        for query in (
            f"Queue = {ticketsql_quote(queue)} AND LastUpdated >= '-7 days'",
            f"Queue = {ticketsql_quote(queue)}",
        ):
            ids = await self._search_ids(query, orderby="-LastUpdated")
            if ids:
                history = await self._history(ids[0])
                return max((t for t, _ in history), default=0)
        return 0
