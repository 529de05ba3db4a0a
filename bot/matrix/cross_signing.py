"""Cross-signing of the bot's own device, so today's Element talks to it.

Element (matrix-js-sdk's ``OnlySignedDevicesIsolationMode``, MSC4153) shares room
keys only with devices their owner has cross-signed and hides messages from
others. matrix-nio has no cross-signing, so this module does the few steps the
spec's "Cross-signing" section asks for, over the nio client's own aiohttp
session:

1. three ed25519 keys (master, self-signing, user-signing) for the bot's
   account, the latter two signed by the master key, uploaded once with
   ``/keys/device_signing/upload`` (user-interactive auth with the password);
2. the bot's current device key signed by the self-signing key, uploaded with
   ``/keys/signatures/upload`` (again after every new device, e.g. a lost store).

The private keys live in ``<data_dir>/cross-signing/keys.json`` (dir 0700, file
0600). With them a new device is re-signed under the same identity. Without them,
while the server already has keys for the bot, nothing is replaced unless
``matrix.reset_cross_signing`` is set: a new identity makes every client warn.

Ed25519 comes from pycryptodome, which matrix-nio already requires (vodozemac
exposes no standalone signing key; PyNaCl is only a Synapse test dependency).
"""

from __future__ import annotations

import base64
import json
import logging
import os
from pathlib import Path
from typing import Any

import aiohttp
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa
from nio.api import Api
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.clock import Clock, unix, utcnow

log = logging.getLogger(__name__)

KEYS_DIR = "cross-signing"
KEYS_FILE = "keys.json"


NEEDS_PASSWORD = (
    "the homeserver requires the bot's password to upload cross-signing keys, and only an "
    "access token is configured: set matrix.password_file (or matrix.password), or "
    "matrix.cross_signing = false to run unsigned"
)


class CrossSigningError(Exception):
    """Cross-signing could not be set up; the message says what to do."""


# ---- primitives ------------------------------------------------------------------------


def b64(data: bytes) -> str:
    """Unpadded standard base64, the spec's encoding for keys and signatures."""
    return base64.b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def canonical_json(obj: dict[str, Any]) -> bytes:
    """What gets signed: canonical JSON without ``signatures`` and ``unsigned``."""
    stripped = {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
    text: str = Api.to_canonical_json(stripped)
    return text.encode()


class SigningKey:
    """One ed25519 key pair, kept as its 32-byte seed."""

    def __init__(self, seed: bytes) -> None:
        self._key = ECC.construct(curve="ed25519", seed=seed)
        self.seed = seed
        self.public = b64(self._key.public_key().export_key(format="raw"))

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(ECC.generate(curve="ed25519").seed)

    @property
    def key_id(self) -> str:
        return f"ed25519:{self.public}"

    def sign(self, obj: dict[str, Any], user_id: str) -> dict[str, Any]:
        """``obj`` with this key's signature added under ``signatures.<user_id>``."""
        signature = b64(eddsa.new(self._key, "rfc8032").sign(canonical_json(obj)))
        signatures = {u: dict(s) for u, s in (obj.get("signatures") or {}).items()}
        signatures.setdefault(user_id, {})[self.key_id] = signature
        return {**obj, "signatures": signatures}


def verify(obj: dict[str, Any], user_id: str, public_key: str) -> bool:
    """Whether ``obj`` carries a valid signature by ed25519 ``public_key`` for ``user_id``."""
    signature = (obj.get("signatures") or {}).get(user_id, {}).get(f"ed25519:{public_key}")
    if not signature:
        return False
    try:
        key = eddsa.import_public_key(unb64(public_key))
        eddsa.new(key, "rfc8032").verify(canonical_json(obj), unb64(signature))
    except ValueError:
        return False
    return True


# ---- stored private keys ------------------------------------------------------------------


class StoredKeys(BaseModel):
    """The private halves (ed25519 seeds, unpadded base64) of the bot's identity."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    user_id: str
    master: str
    self_signing: str
    user_signing: str
    created_at: float = 0.0  # Unix time from the injected clock

    @classmethod
    def generate(cls, user_id: str, clock: Clock = utcnow) -> StoredKeys:
        return cls(
            user_id=user_id,
            created_at=unix(clock),
            master=b64(SigningKey.generate().seed),
            self_signing=b64(SigningKey.generate().seed),
            user_signing=b64(SigningKey.generate().seed),
        )

    def key(self, which: str) -> SigningKey:
        return SigningKey(unb64(getattr(self, which)))


def keys_path(data_dir: Path) -> Path:
    return data_dir / KEYS_DIR / KEYS_FILE


def load_keys(path: Path, user_id: str) -> StoredKeys | None:
    try:
        keys = StoredKeys.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValidationError) as exc:
        raise CrossSigningError(f"{path} is unreadable ({exc}); restore it from a backup") from exc
    if keys.user_id != user_id:
        raise CrossSigningError(f"{path} holds keys of {keys.user_id}, not {user_id}")
    return keys


def save_keys(path: Path, keys: StoredKeys) -> None:
    """Owner-only, written whole or not at all (a half-written key file is a lost identity)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(keys.model_dump_json(indent=1))
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


# ---- what the homeserver says ------------------------------------------------------------


class CrossSigningKey(BaseModel):
    model_config = ConfigDict(extra="allow")

    user_id: str
    usage: list[str]
    keys: dict[str, str]
    signatures: dict[str, dict[str, str]] = Field(default_factory=dict)

    @property
    def public(self) -> str:
        return next(iter(self.keys.values()))


class DeviceKeys(BaseModel):
    model_config = ConfigDict(extra="allow")

    user_id: str
    device_id: str
    keys: dict[str, str]
    signatures: dict[str, dict[str, str]] = Field(default_factory=dict)


class KeysQuery(BaseModel):
    model_config = ConfigDict(extra="allow")

    device_keys: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)
    master_keys: dict[str, CrossSigningKey] = Field(default_factory=dict)
    self_signing_keys: dict[str, CrossSigningKey] = Field(default_factory=dict)
    user_signing_keys: dict[str, CrossSigningKey] = Field(default_factory=dict)


class AuthFlow(BaseModel):
    stages: list[str] = Field(default_factory=list)


class UIAChallenge(BaseModel):
    """A 401 from an endpoint with user-interactive auth."""

    model_config = ConfigDict(extra="allow")

    session: str | None = None
    flows: list[AuthFlow] = Field(default_factory=list)
    errcode: str | None = None
    error: str | None = None


class SignaturesUploaded(BaseModel):
    model_config = ConfigDict(extra="allow")

    failures: dict[str, dict[str, Any]] = Field(default_factory=dict)


class CrossSigningStatus(BaseModel):
    """What ``/readyz`` and ``check-config --online`` report."""

    cross_signed: bool = False
    device_id: str = ""
    master_key: str | None = None
    reason: str = "not checked yet"

    def describe(self) -> str:
        if self.cross_signed:
            return (
                f"device {self.device_id} is cross-signed by the bot's self-signing key "
                f"(master key {self.master_key})"
            )
        return f"device {self.device_id or '?'} is not cross-signed: {self.reason}"


def device_status(query: KeysQuery, user_id: str, device_id: str) -> CrossSigningStatus:
    """Whether the server shows ``device_id`` signed by a self-signing key the master key signed."""
    master = query.master_keys.get(user_id)
    ssk = query.self_signing_keys.get(user_id)
    device = query.device_keys.get(user_id, {}).get(device_id)
    status = CrossSigningStatus(device_id=device_id, master_key=master.public if master else None)
    if master is None or ssk is None:
        status.reason = "the account has no cross-signing keys on the homeserver"
    elif device is None:
        status.reason = "the homeserver does not know this device's keys"
    elif not verify(ssk.model_dump(), user_id, master.public):
        status.reason = "the self-signing key is not signed by the master key"
    elif not verify(device, user_id, ssk.public):
        status.reason = "the device key carries no valid self-signing signature"
    else:
        status.cross_signed = True
        status.reason = ""
    return status


# ---- talking to the homeserver over nio's session -------------------------------------------


class Homeserver:
    """JSON calls with the bot's access token, through nio's aiohttp session."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def call(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        headers = {
            "Authorization": f"Bearer {self.client.access_token}",
            "Content-Type": "application/json",
        }
        resp = await self.client.send(method, path, json.dumps(body), headers=headers)
        async with resp:
            try:
                payload = await resp.json(content_type=None)
            except ValueError:
                payload = {}
            return resp.status, payload

    async def query_own_keys(self, user_id: str) -> KeysQuery:
        status, payload = await self.call(
            "POST", "/_matrix/client/v3/keys/query", {"device_keys": {user_id: []}}
        )
        if status != 200:
            raise CrossSigningError(f"/keys/query answered HTTP {status}: {payload}")
        return KeysQuery.model_validate(payload)


class CrossSigner:
    """Bootstrap or reuse the bot's cross-signing identity and sign its current device."""

    def __init__(
        self,
        client: Any,
        data_dir: Path,
        *,
        password: str | None,
        reset: bool = False,
        clock: Clock = utcnow,
    ) -> None:
        self.client = client
        self.clock = clock
        self.server = Homeserver(client)
        self.path = keys_path(data_dir)
        self.password = password
        self.reset = reset

    @property
    def user_id(self) -> str:
        user_id: str = self.client.user_id
        return user_id

    async def ensure(self) -> CrossSigningStatus:
        """Make the server show this device cross-signed; the status says how it went."""
        user_id, device_id = self.user_id, self.client.device_id
        query = await self.server.query_own_keys(user_id)
        keys = load_keys(self.path, user_id)
        server_master = query.master_keys.get(user_id)
        if keys is not None:
            ours = keys.key("master").public
            if server_master is not None and server_master.public != ours:
                if not self.reset:
                    return CrossSigningStatus(
                        device_id=device_id,
                        master_key=server_master.public,
                        reason=(
                            f"the homeserver's master key for {user_id} is not the one in "
                            f"{self.path} (another client reset the bot's identity); set "
                            "matrix.reset_cross_signing = true to put the bot's own back "
                            "(every client will warn that the bot's identity changed)"
                        ),
                    )
                self._warn_reset()
                await self._upload_keys(keys)
            elif server_master is None:
                log.info("uploading the stored cross-signing keys of %s", user_id)
                await self._upload_keys(keys)
        else:
            if server_master is not None and not self.reset:
                signed = device_status(query, user_id, device_id)
                if signed.cross_signed:
                    log.warning(
                        "%s is missing: this device stays signed, but a new device (after a "
                        "lost store) could not be; restore the file from a backup",
                        self.path,
                    )
                    return signed
                return CrossSigningStatus(
                    device_id=device_id,
                    master_key=server_master.public,
                    reason=(
                        f"the homeserver has cross-signing keys for {user_id} but their "
                        f"private halves are not in {self.path}; restore that file from a "
                        "backup, or set matrix.reset_cross_signing = true to make a new "
                        "identity (every client will warn that the bot's identity changed)"
                    ),
                )
            if server_master is not None:
                self._warn_reset()
            else:
                log.info("bootstrapping cross-signing for %s (first start)", user_id)
            keys = StoredKeys.generate(user_id, self.clock)
            save_keys(self.path, keys)  # before the upload: an uploaded key we lost is worse
            await self._upload_keys(keys)
        query = await self.server.query_own_keys(user_id)
        status = device_status(query, user_id, device_id)
        if status.cross_signed:
            return status
        await self._sign_device(query, keys, device_id)
        status = device_status(await self.server.query_own_keys(user_id), user_id, device_id)
        if status.cross_signed:
            log.info("signed device %s with the self-signing key", device_id)
        return status

    def _warn_reset(self) -> None:
        if not self.password:  # checked first: replacing keys always needs the password
            raise CrossSigningError(NEEDS_PASSWORD)
        log.warning(
            "RESETTING the cross-signing identity of %s (matrix.reset_cross_signing is set): "
            "every client will warn that the bot's identity changed and people who verified "
            "it must verify it again; unset the flag once this start is done",
            self.user_id,
        )

    def public_keys(self, keys: StoredKeys) -> dict[str, dict[str, Any]]:
        master = keys.key("master")

        def key_object(which: str, usage: str) -> dict[str, Any]:
            key = keys.key(which)
            return {"user_id": self.user_id, "usage": [usage], "keys": {key.key_id: key.public}}

        return {
            "master_key": key_object("master", "master"),
            "self_signing_key": master.sign(
                key_object("self_signing", "self_signing"), self.user_id
            ),
            "user_signing_key": master.sign(
                key_object("user_signing", "user_signing"), self.user_id
            ),
        }

    async def _upload_keys(self, keys: StoredKeys) -> None:
        """``/keys/device_signing/upload``, with password auth when the server asks for it."""
        path = "/_matrix/client/v3/keys/device_signing/upload"
        body = self.public_keys(keys)
        status, payload = await self.server.call("POST", path, body)
        if status == 401:
            challenge = UIAChallenge.model_validate(payload)
            if not any(flow.stages == ["m.login.password"] for flow in challenge.flows):
                raise CrossSigningError(
                    "the homeserver wants an auth flow other than m.login.password for "
                    f"uploading cross-signing keys ({[f.stages for f in challenge.flows]})"
                )
            if not self.password:
                raise CrossSigningError(NEEDS_PASSWORD)
            auth = {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": self.user_id},
                "password": self.password,
                "session": challenge.session,
            }
            status, payload = await self.server.call("POST", path, {**body, "auth": auth})
        if status != 200:
            raise CrossSigningError(f"uploading cross-signing keys: HTTP {status} {payload}")

    async def _sign_device(self, query: KeysQuery, keys: StoredKeys, device_id: str) -> None:
        device = query.device_keys.get(self.user_id, {}).get(device_id)
        if device is None:
            raise CrossSigningError(f"the homeserver does not know device {device_id}'s keys")
        DeviceKeys.model_validate(device)
        unsigned = {k: v for k, v in device.items() if k not in ("signatures", "unsigned")}
        signed = keys.key("self_signing").sign(unsigned, self.user_id)
        status, payload = await self.server.call(
            "POST",
            "/_matrix/client/v3/keys/signatures/upload",
            {self.user_id: {device_id: signed}},
        )
        if status != 200:
            raise CrossSigningError(f"uploading the device signature: HTTP {status} {payload}")
        result = SignaturesUploaded.model_validate(payload)
        if result.failures:
            raise CrossSigningError(
                f"the homeserver refused the device signature: {result.failures}"
            )


async def bootstrap(
    client: Any,
    data_dir: Path,
    *,
    password: str | None,
    reset: bool,
    clock: Clock = utcnow,
) -> CrossSigningStatus:
    """Never raises: a failure is logged and comes back as the status's reason."""
    device_id = client.device_id or ""
    try:
        signer = CrossSigner(client, data_dir, password=password, reset=reset, clock=clock)
        status = await signer.ensure()
    except CrossSigningError as exc:
        status = CrossSigningStatus(device_id=device_id, reason=str(exc))
    except (OSError, TimeoutError, aiohttp.ClientError, ValidationError) as exc:
        status = CrossSigningStatus(device_id=device_id, reason=f"homeserver call failed: {exc}")
    if status.cross_signed:
        log.info("%s", status.describe())
    else:
        log.error(
            "%s; Element users in encrypted rooms will neither see the bot's messages nor "
            "share their keys with it",
            status.describe(),
        )
    return status


async def online_status(client: Any, user_id: str, device_id: str) -> CrossSigningStatus:
    """For ``check-config --online``: what other clients see of this device, no changes made."""
    return device_status(await Homeserver(client).query_own_keys(user_id), user_id, device_id)
