"""The bot as a real process (``backchannel run`` or the fault harness), for fault tests and benchmarks."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def write_config(
    path: Path,
    *,
    homeserver: str,
    user_id: str,
    password: str,
    support: str,
    staff: str,
    data_dir: Path,
    web_port: int,
    admins: list[str] = (),  # type: ignore[assignment]
    engineers: list[str] = (),  # type: ignore[assignment]
    extra: str = "",
) -> Path:
    q = json.dumps  # JSON strings are valid TOML basic strings
    path.write_text(
        f"""
[matrix]
homeserver = {q(homeserver)}
user_id = {q(user_id)}
password = {q(password)}
encryption = false
sync_timeout_ms = 5000
max_retries = 2

[rooms]
support = {q(support)}
staff = {q(staff)}

[roles]
admins = {q(list(admins))}
engineers = {q(list(engineers))}

[bot]
data_dir = {q(str(data_dir))}

[web]
enabled = true
listen = "127.0.0.1:{web_port}"

[moderation.flood]
max_messages = 1000000
max_lines = 1000000
{extra}
"""
    )
    return path


def readyz(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


class BotProcess:
    """One run of the bot; ``faults`` goes to harness.faultbot (BACKCHANNEL_FAULTS)."""

    def __init__(self, config: Path, web_port: int, log: Path, faults: str | None = None) -> None:
        self.config, self.web_port, self.log, self.faults = config, web_port, log, faults
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, *, wait_ready: bool = True, timeout: float = 90) -> BotProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BACKCHANNEL_")}
        if self.faults:
            env["BACKCHANNEL_FAULTS"] = self.faults
        module = "harness.faultbot" if self.faults else "bot.cli"
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                module,
                "run",
                "--config",
                str(self.config),
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                cwd=ROOT,
            )
        if wait_ready:
            await self.wait_ready(timeout)
        return self

    async def wait_ready(self, timeout: float = 90) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while await asyncio.to_thread(readyz, self.web_port) != 200:
            if self.proc.returncode is not None:
                raise RuntimeError(f"bot exited with {self.proc.returncode}: {self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"bot not ready: {self.tail()}")
            await asyncio.sleep(0.05)

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:]

    async def wait_exit(self, timeout: float = 60) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def stop(self) -> int | None:
        if self.proc is None or self.proc.returncode is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            self.proc.kill()
            return await self.proc.wait()


def bot_messages(server: Any, token: str, room: str, bot: str) -> list[dict[str, Any]]:
    """Every m.room.message the bot has in ``room``, straight from Synapse (not a client's view)."""
    out: list[dict[str, Any]] = []
    path = f"/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=1000"
    frm = ""
    while True:
        resp = server.api("GET", path + (f"&from={frm}" if frm else ""), token)
        chunk = resp.get("chunk") or []
        out += [e for e in chunk if e.get("sender") == bot and e.get("type") == "m.room.message"]
        if not chunk or not resp.get("end") or resp.get("end") == frm:
            return out
        frm = resp["end"]


def replies_to(messages: list[dict[str, Any]], event_id: str) -> list[dict[str, Any]]:
    """The bot's messages answering ``event_id`` (threaded or plain reply)."""
    out = []
    for m in messages:
        rel = (m.get("content") or {}).get("m.relates_to") or {}
        in_reply = (rel.get("m.in_reply_to") or {}).get("event_id")
        if in_reply == event_id or (
            rel.get("rel_type") == "m.thread"
            and rel.get("event_id") == event_id
            and in_reply in (None, event_id)
        ):
            out.append(m)
    return out
