"""Test-only entry point: ``backchannel run`` with a SIGKILL at a chosen phase of handling one event.

    BACKCHANNEL_FAULTS="PHASE=BODY" python -m harness.faultbot run --config bot.toml

kills the process (SIGKILL: no cleanup, nothing flushed) the first time the
event whose body is exactly ``BODY`` reaches ``PHASE``:

- ``received``: the router got the event (the ledger knows it is in flight), before any effect;
- ``after_send``: a message the bot sent for it is in the homeserver, before
  anything about it is recorded;
- ``before_mark``: its effects are done, the ledger is about to record it;
- ``relay_fetched`` / ``relay_after_send`` / ``relay_before_mark``: the same three moments
  of relaying the RT reply whose text holds ``BODY`` (RT answered; the message is in the
  homeserver; the poll's high-water mark is about to be saved).

``BACKCHANNEL_FAULTS="job_dies"`` adds a background job that fails after the
start, ``consumer_dies`` makes event handling fail after the first batch: the
process must exit non-zero. Production code never imports this module; it
patches the classes from outside before running the real command line.
"""

from __future__ import annotations

import os

from harness.faults import install


def main() -> int:
    spec = os.environ.get("BACKCHANNEL_FAULTS")
    if spec:
        install(spec)
    from bot.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    raise SystemExit(main())
