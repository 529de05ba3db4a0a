"""``make demo``: a local Synapse (+ RT 5 when installed) with demo accounts, rooms and the bot.

Everything lives under ``.demo/`` and is reused by the next run; delete that
folder to start over. Stop with Ctrl-C.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from harness.rt_server import RTUnavailableError, start_rt
from harness.synapse_server import Synapse, free_port
from harness.world import create_room

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / ".demo"
from harness.shared_data import DOCS  # noqa: E402

PEOPLE = {
    "admin": "admin-pass",
    "engineer": "engineer-pass",
    "customer": "customer-pass",
    "backchannel": "bot-pass",
}


def main() -> int:
    DEMO.mkdir(exist_ok=True)
    state_file = DEMO / "state.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    port = state.get("synapse_port") or free_port()
    synapse = Synapse(DEMO / "synapse", port)
    print(f"starting Synapse on {synapse.url} ...", flush=True)
    synapse.start()
    accounts = {name: synapse.register(name, password) for name, password in PEOPLE.items()}
    admin, engineer, customer, bot = (accounts[n] for n in PEOPLE)
    if "support" not in state:
        power = {bot.user_id: 100, engineer.user_id: 50}
        state["support"] = create_room(
            synapse,
            admin.access_token,
            "Safespring support (demo)",
            [bot.user_id, engineer.user_id, customer.user_id],
            power,
        )
        state["staff"] = create_room(
            synapse,
            admin.access_token,
            "Safespring staff (demo)",
            [bot.user_id, engineer.user_id],
            power,
        )
    state["synapse_port"] = port
    state_file.write_text(json.dumps(state, indent=2))

    rt_section = ""
    web_port = state.setdefault("web_port", free_port())
    try:
        rt = start_rt(DEMO / "rt")
        # RT has no webhooks; this scrip makes staff replies reach the thread at once.
        rt.set_webhook(f"http://127.0.0.1:{web_port}/hooks/rt")
        rt_section = (
            f'\n[rt]\nurl = "{rt.url}"\ntoken_file = "{rt.token_file}"\nqueue = "{rt.queue}"\n'
            f"poll_interval_seconds = 5\n"
        )
        print(f"RT 5 is at {rt.url} (web login: {rt.agent_user} / {rt.agent_password})")
        print("  In a thread, as the engineer: !ticket P2 --requestor customer@example.com")
    except RTUnavailableError as exc:
        print(f"RT not started: {exc}")
    knowledge = f'\n[knowledge]\ndocs_dir = "{DOCS}"\n' if DOCS.exists() else ""
    config = DEMO / "backchannel.toml"
    config.write_text(f"""[matrix]
homeserver = "{synapse.url}"
user_id = "{bot.user_id}"
password = "{bot.password}"

[rooms]
support = "{state["support"]}"
staff = "{state["staff"]}"

[roles]
admins = ["{admin.user_id}"]
engineers = ["{engineer.user_id}"]

[bot]
data_dir = "{DEMO / "bot-data"}"

[web]
listen = "127.0.0.1:{state.setdefault("web_port", free_port())}"
{knowledge}{rt_section}""")
    state_file.write_text(json.dumps(state, indent=2))
    print(
        f"""
backchannel demo
================
Homeserver: {synapse.url}   (log in with Element or any Matrix client; set the homeserver URL)
  customer  @customer:localhost   password customer-pass   (in the support room)
  engineer  @engineer:localhost   password engineer-pass   (support + staff rooms)
  admin     @admin:localhost      password admin-pass      (created both rooms)
Rooms: support {state["support"]}, staff {state["staff"]}
Config: {config}
Try in the support room: !help, !ping, a question such as "how do I restore files with dsmc?"
Health: http://127.0.0.1:{state["web_port"]}/healthz  /readyz  /metrics
Starting the bot (Ctrl-C stops it; Synapse keeps running: kill $(cat {DEMO}/synapse/data/homeserver.pid))
""",
        flush=True,
    )
    os.execv(sys.executable, [sys.executable, "-m", "bot.cli", "run", "--config", str(config)])


if __name__ == "__main__":
    raise SystemExit(main())
