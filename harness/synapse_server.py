"""A throw-away Synapse on loopback (SQLite), for tests, benchmarks and the demo.

Built from ../shared/notes/synapse-for-tests.md: client API only, no
federation, rate limits lifted (``per_second: 0`` would block), the sync
response cache off (otherwise a quick restart replays old events).

    python -m harness.synapse_server DIR   # start (or restart) and print the URL
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SERVER_NAME = "localhost"
_LIMITERS = [
    "rc_message",
    "rc_registration",
    "rc_registration_token_validity",
    "rc_admin_redaction",
    "rc_third_party_invite",
    "rc_3pid_validation",
    "rc_key_requests",
    "rc_media_create",
    "rc_delayed_event_mgmt",
    "rc_room_creation",
    "rc_reports",
    "rc_user_directory",
    "rc_profile",
    "rc_joins_per_room",
]
_UNLIMITED = {"per_second": 10000, "burst_count": 100000}


def _read_pid(path: Path, timeout: float = 15.0) -> int:
    """The daemonized Synapse writes its pid file after the parent returns: under load the file
    can exist and still be empty for a moment, so wait for a whole number."""
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text().strip() if path.exists() else ""
        if text.isdigit():
            return int(text)
        if time.monotonic() > deadline:
            raise RuntimeError(f"synapse wrote no pid to {path} in {timeout:.0f} s")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(
    method: str, url: str, body: dict[str, Any] | None = None, token: str | None = None
) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        payload = json.loads(exc.read() or b"{}")
        payload["_status"] = exc.code
        return payload


@dataclass
class Account:
    user_id: str
    password: str
    access_token: str
    device_id: str


@dataclass
class Synapse:
    dir: Path
    port: int
    proc_pid: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.dir / "homeserver.yaml"

    def secret(self) -> str:
        return yaml.safe_load(self.config_path.read_text())["registration_shared_secret"]

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        data = self.dir / "data"
        if not self.config_path.exists():
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "synapse.app.homeserver",
                    "--server-name",
                    SERVER_NAME,
                    "--config-path",
                    str(self.config_path),
                    "--config-directory",
                    str(self.dir),
                    "--data-directory",
                    str(data),
                    "--generate-config",
                    "--report-stats=no",
                ],
                check=True,
                capture_output=True,
            )
        self._patch_config()
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", self.port)) == 0:
                raise RuntimeError(f"port {self.port} is already taken")
        (data / "homeserver.pid").unlink(missing_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "synapse.app.homeserver",
                "-c",
                str(self.config_path),
                "--daemonize",
            ],
            check=True,
            capture_output=True,
            cwd=self.dir,
        )
        self.proc_pid = _read_pid(data / "homeserver.pid")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                os.kill(self.proc_pid, 0)
            except ProcessLookupError as exc:
                raise RuntimeError(f"synapse died at start; see {self.dir}/homeserver.log") from exc
            try:
                with urllib.request.urlopen(f"{self.url}/_matrix/client/versions", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("synapse did not become ready in 60 s")

    def _patch_config(self) -> None:
        cfg = yaml.safe_load(self.config_path.read_text())
        cfg.update(
            {
                "listeners": [
                    {
                        "port": self.port,
                        "bind_addresses": ["127.0.0.1"],
                        "type": "http",
                        "tls": False,
                        "x_forwarded": False,
                        "resources": [{"names": ["client"], "compress": False}],
                    }
                ],
                "public_baseurl": f"{self.url}/",
                "serve_server_wellknown": False,
                "enable_registration": False,
                "allow_guest_access": False,
                "federation_domain_whitelist": [],
                "trusted_key_servers": [],
                "suppress_key_server_warning": True,
                "url_preview_enabled": False,
                "report_stats": False,
                "enable_metrics": False,
                "presence": {"enabled": False},
                "max_upload_size": "50M",
                "bcrypt_rounds": 4,
                "caches": {"sync_response_cache_duration": 0},
                "rc_login": {
                    "address": _UNLIMITED,
                    "account": _UNLIMITED,
                    "failed_attempts": _UNLIMITED,
                },
                "rc_joins": {"local": _UNLIMITED, "remote": _UNLIMITED},
                "rc_invites": {
                    "per_room": _UNLIMITED,
                    "per_user": _UNLIMITED,
                    "per_issuer": _UNLIMITED,
                },
                "rc_presence": {"per_user": _UNLIMITED},
                "federation_rr_transactions_per_room_per_second": 10000,
            }
        )
        for name in _LIMITERS:
            cfg[name] = _UNLIMITED
        log_config = Path(cfg["log_config"])
        if log_config.exists():
            log_cfg = yaml.safe_load(log_config.read_text())
            log_cfg.setdefault("root", {})["level"] = "WARNING"
            log_config.write_text(yaml.safe_dump(log_cfg))
        self.config_path.write_text(yaml.safe_dump(cfg))

    def stop(self) -> None:
        if not self.proc_pid:
            return
        try:
            os.kill(self.proc_pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(self.proc_pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(self.proc_pid, signal.SIGKILL)

    def register(self, name: str, password: str | None = None, *, admin: bool = False) -> Account:
        """Create (or log into) a real account through the shared-secret admin API."""
        password = password or f"{name}-pass"
        nonce = _http("GET", f"{self.url}/_synapse/admin/v1/register")["nonce"]
        msg = b"\x00".join(
            [nonce.encode(), name.encode(), password.encode(), b"admin" if admin else b"notadmin"]
        )
        mac = hmac.new(self.secret().encode(), msg, hashlib.sha1).hexdigest()
        resp = _http(
            "POST",
            f"{self.url}/_synapse/admin/v1/register",
            {"nonce": nonce, "username": name, "password": password, "admin": admin, "mac": mac},
        )
        if resp.get("errcode") == "M_USER_IN_USE":
            resp = _http(
                "POST",
                f"{self.url}/_matrix/client/v3/login",
                {
                    "type": "m.login.password",
                    "identifier": {"type": "m.id.user", "user": name},
                    "password": password,
                },
            )
        if "access_token" not in resp:
            raise RuntimeError(f"could not register {name}: {resp}")
        return Account(resp["user_id"], password, resp["access_token"], resp["device_id"])

    def api(
        self, method: str, path: str, token: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return _http(method, f"{self.url}{path}", body, token)


def main() -> int:
    directory = Path(sys.argv[1] if len(sys.argv) > 1 else ".demo/synapse")
    port_file = directory / "port"
    port = int(port_file.read_text()) if port_file.exists() else free_port()
    server = Synapse(directory, port)
    server.start()
    port_file.write_text(str(port))
    print(server.url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
