"""Async client for RT's REST 1.0 API (`/REST/1.0/`), the only API RT 4.4 ships.

Same operations, models and typed errors as the REST 2.0 client (see `interface.RTClient`).
Facts this relies on were measured on a real RT 4.4.6 (../shared/notes/rt44-for-tests.md):
- the HTTP status is always 200; the real one is the body's first line `RT/<ver> <code> <text>`,
  and many failures are `200 Ok` with only a `# ...` line saying so; some answers are empty;
  a server bug is a Mason error text with a stack and no status line;
- requests are forms `Key: value` in the field `content`; a value continues on lines that start
  with whitespace, so an unindented `Status: resolved` line in chat text would become a field
  (measured: it changed the status; a `Cc:` line mailed the reply there). `compose_form()` is the only
  place a form is built and it indents every continuation line (see `_text_value`);
- bcrypt runs on every user/pass request, so the client logs in once and reuses the session
  cookie, logging in again once when RT answers `401 Credentials required` (expired session);
- creates and messages return no transaction id: it is read back from the ticket's history;
- there is no transaction search: polling is one ticket search by LastUpdated plus the history
  of at most `poll_max_tickets` updated tickets per poll (see `transactions_since`).

Where each part lives: `session` (login cookie, transport, typed errors), `history` (a
ticket's transactions and attachments), `tickets` (create, show, edit, messages, searches),
`poll` (`transactions_since`), `client` (`RTRest1Client`, the layers together).
"""

from commands.escalation.rt.rest1.client import RTRest1Client
from commands.escalation.rt.rest1.poll import POLL_OVERLAP_S, STAMP_SETTLED_S

__all__ = ["POLL_OVERLAP_S", "STAMP_SETTLED_S", "RTRest1Client"]
