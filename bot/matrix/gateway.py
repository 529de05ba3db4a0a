"""The only module that talks to matrix-nio.

nio returns error objects instead of raising; every call here checks its
result and raises ``MatrixError`` so callers cannot forget. nio's own bounded
retry (429 with ``retry_after_ms``, connection errors with backoff) is
configured from settings; it never retries endlessly.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import nio
from nio import AsyncClient, AsyncClientConfig
from pydantic import BaseModel

from bot.clock import Clock, utcnow
from bot.config import MatrixSettings
from bot.matrix import cross_signing
from bot.matrix.base import GatewayBase
from bot.matrix.errors import MatrixError, check
from bot.matrix.media import Media, MediaStore
from bot.matrix.reading import Reading
from bot.matrix.rooms import Rooms
from bot.matrix.sending import Sending
from bot.txn import SentLog

log = logging.getLogger(__name__)

__all__ = ["MatrixError", "Media", "check"]


class Session(BaseModel):
    """What lets a restart reuse the same device (and its e2e store)."""

    user_id: str
    device_id: str
    access_token: str
    homeserver: str


class MatrixGateway(Sending, Reading, Rooms, MediaStore, GatewayBase):
    """The session and sync; each area of the API lives in its own module (bot/matrix/)."""

    def __init__(self, settings: MatrixSettings, data_dir: Path, *, clock: Clock = utcnow) -> None:
        self.settings = settings
        self.clock = clock
        self.data_dir = data_dir
        self.session_file = data_dir / "session.json"
        self.store_dir = data_dir / "e2e-store"
        client_config = AsyncClientConfig(
            max_limit_exceeded=settings.max_retries,
            max_timeouts=settings.max_retries,
            max_timeout_retry_wait_time=10,
            encryption_enabled=settings.encryption,
            store_sync_tokens=settings.encryption,
        )
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.client = AsyncClient(
            settings.homeserver,
            settings.user_id,
            store_path=str(self.store_dir),
            config=client_config,
        )
        self._dm_rooms: dict[str, str] = {}
        self._left_dms: set[str] = set()
        self._invite_direct: dict[str, bool] = {}
        self.client.add_event_callback(self._note_invite, nio.InviteMemberEvent)
        self._creators: dict[str, set[str]] = {}
        self._sync_done = asyncio.Condition()
        self.cross_signing = cross_signing.CrossSigningStatus(reason="not logged in yet")
        self.sent_log: SentLog | None = None  # set by the app once the store is open

    # ---- session -------------------------------------------------------------

    async def login(self) -> None:
        """Restore the saved device, or log in once and save it.

        A saved device is reused only together with its e2e store: a device id
        whose store was lost would break key upload, so a new one is made.
        """
        session = self._load_session()
        store_ok = any(self.store_dir.glob("*.db")) or not self.settings.encryption
        if session and session.homeserver == self.settings.homeserver and store_ok:
            self.client.restore_login(session.user_id, session.device_id, session.access_token)
            check(await self.client.whoami(), nio.WhoamiResponse, "whoami with saved session")
            log.info("restored device %s", session.device_id)
        elif self.settings.access_token and not session:
            self.client.access_token = self.settings.access_token
            who = check(await self.client.whoami(), nio.WhoamiResponse, "whoami with access_token")
            if not who.device_id:
                raise MatrixError(
                    "access_token", "the token has no device; create one with a login"
                )
            self.client.restore_login(who.user_id, who.device_id, self.settings.access_token)
            self._save_session()
        else:
            if not self.settings.password:
                raise MatrixError(
                    "login", "the saved device or its e2e store is gone; a password is needed"
                )
            if session and not store_ok:
                log.warning(
                    "e2e store for device %s is missing: logging in a new device", session.device_id
                )
            for path in self.store_dir.glob("*"):
                path.unlink()
            resp = await self.client.login(
                self.settings.password, device_name=self.settings.device_name
            )
            check(resp, nio.LoginResponse, "login")
            self._save_session()
            log.info("logged in as new device %s", self.client.device_id)
        if self.client.olm and self.client.should_upload_keys:
            check(await self.client.keys_upload(), nio.KeysUploadResponse, "keys upload")
        await self._cross_sign()

    async def _cross_sign(self) -> None:
        """Sign this device with the account's self-signing key (bootstrapped on first start)."""
        if not self.client.olm or not self.settings.cross_signing:
            self.cross_signing = cross_signing.CrossSigningStatus(
                device_id=self.client.device_id or "",
                reason="off (matrix.encryption or matrix.cross_signing is false)",
            )
            return
        self.cross_signing = await cross_signing.bootstrap(
            self.client,
            self.data_dir,
            password=self.settings.password,
            reset=self.settings.reset_cross_signing,
            clock=self.clock,
        )

    def cross_signed_for_readiness(self) -> bool | None:
        """None when cross-signing does not apply (encryption or cross-signing off)."""
        if not self.settings.encryption or not self.settings.cross_signing:
            return None
        return self.cross_signing.cross_signed

    def _load_session(self) -> Session | None:
        try:
            return Session.model_validate_json(self.session_file.read_text())
        except (OSError, ValueError):
            return None

    def _save_session(self) -> None:
        session = Session(
            user_id=self.client.user_id,
            device_id=self.client.device_id,
            access_token=self.client.access_token,
            homeserver=self.settings.homeserver,
        )
        tmp = self.session_file.with_suffix(".tmp")
        tmp.write_text(session.model_dump_json())
        tmp.chmod(0o600)
        tmp.replace(self.session_file)

    async def close(self) -> None:
        await self.client.close()

    async def sync_processed(self) -> None:
        """Called by the intake after nio has fully processed a sync response.

        Does the e2e bookkeeping nio's own ``sync_forever`` would do (we run our
        own loop): without the key query, devices of people who appear later (a
        DM invitee, a new member) never get the room key and cannot decrypt.
        """
        client = self.client
        if client.olm is not None:
            if client.outgoing_to_device_messages:
                for resp in await client.send_to_device_messages():
                    check(resp, nio.ToDeviceResponse, "send to-device")
            if client.should_upload_keys:
                check(await client.keys_upload(), nio.KeysUploadResponse, "keys upload")
            if client.should_query_keys:
                check(await client.keys_query(), nio.KeysQueryResponse, "keys query")
            if client.should_claim_keys:
                users = client.get_users_for_key_claiming()
                check(await client.keys_claim(users), nio.KeysClaimResponse, "keys claim")
        async with self._sync_done:
            self._sync_done.notify_all()
