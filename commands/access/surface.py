"""The access service's Matrix side: who is in the room, DMs, invites, kicks, staff lines, cards."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from bot.matrix import MatrixError
from commands.access import texts
from commands.access.models import (
    AccessRequest,
    Org,
    valid_mxid,
)
from commands.access.settings import AccessSettings

if TYPE_CHECKING:
    from bot.context import Services

from commands.access.repository import AccessRepository

log = logging.getLogger(__name__)


class AccessSurface(AccessRepository):
    """Matrix effects of access decisions; they follow the commit, and a failure is logged."""

    settings: AccessSettings
    services: Services | None
    prefix: str
    _pending: set[asyncio.Task[None]]

    @property
    def _svc(self) -> Services:
        assert self.services is not None, "Matrix-facing access calls need the bot's services"
        return self.services

    @property
    def support_room(self) -> str:
        return self._svc.config.rooms.support

    def is_exempt(self, user_id: str) -> bool:
        """Staff (configured or by power level), the bot and configured extras are never removed."""
        svc = self._svc
        return (
            user_id == svc.matrix.user_id
            or user_id in self.settings.exempt_users
            or svc.roles.is_staff(user_id)
        )

    def in_room(self, user_id: str) -> bool:
        return user_id in self._svc.matrix.members(self.support_room)

    async def _tell(
        self, actor: str, action: str, user_id: str | None, org_id: str | None, detail: str
    ) -> None:
        if self.services is not None:
            await self.services.tell_staff(texts.staff_line(actor, action, user_id, org_id, detail))

    async def knows(self, user_id: str, room_id: str | None = None) -> bool:
        """Whether an invite from ``user_id`` is accepted (the core's invite policy asks).

        Registry members and people on an organisation's homeserver are known. Anyone else
        is accepted only into a DM-shaped room (so a stranger can ask with !join), never
        into group rooms.
        """
        if not valid_mxid(user_id):
            return False
        if await self.member(user_id) or await self.orgs_by_homeserver(user_id):
            return True
        return bool(
            self.settings.accept_dm_from_anyone and room_id and self._dm_invite(room_id, user_id)
        )

    def _dm_invite(self, room_id: str, inviter: str) -> bool:
        return self._svc.matrix.invite_is_dm(room_id, inviter)

    async def _invite(self, user_id: str) -> bool:
        if user_id in self._svc.matrix.members(self.support_room):
            return True
        try:
            await self._svc.matrix.invite(self.support_room, user_id)
            return True
        except MatrixError as exc:
            log.warning("could not invite %s: %s", user_id, exc)
            await self._svc.tell_staff(
                texts.staff_line("bot", "invite failed", user_id, None, str(exc))
            )
            return False

    async def _tell_person(self, user_id: str, html: str, dm_room: str | None = None) -> None:
        matrix = self._svc.matrix
        try:
            # The DM a request came from may have grown (and been left) since.
            room = dm_room if dm_room and matrix.is_dm(dm_room) else await matrix.dm_room(user_id)
        except MatrixError as exc:
            log.warning("could not open a DM with %s: %s", user_id, exc)
            return
        if matrix.knows_room(room):
            await self._send_quietly(user_id, room, html)
            return
        # A DM created just now is unknown until the next sync, and nio will not encrypt for
        # an unknown room; handlers run inside the sync loop, so wait outside of it.
        task = asyncio.create_task(self._send_when_synced(user_id, room, html))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send_when_synced(self, user_id: str, room: str, html: str) -> None:
        if await self._svc.matrix.wait_for_room(room, timeout=60):
            await self._send_quietly(user_id, room, html)
        else:
            log.warning("DM %s with %s never synced; message dropped", room, user_id)

    async def _send_quietly(self, user_id: str, room: str, html: str) -> None:
        try:
            await self._svc.matrix.send(room, html)
        except Exception as exc:  # nio raises its own errors too; a notice must not break an action
            log.warning("could not tell %s: %s", user_id, exc)

    async def close(self) -> None:
        """Let DMs still waiting for their room go out (briefly), then give up."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=5)
        for task in set(self._pending):
            task.cancel()

    async def _update_card(self, req: AccessRequest, org: Org) -> None:
        if req.card_event_id:
            try:
                await self._svc.matrix.edit(
                    self._svc.config.rooms.staff, req.card_event_id, texts.card_decided(req, org)
                )
            except MatrixError as exc:
                log.warning("could not update card of request #%d: %s", req.id, exc)

    async def _evict(self, user_id: str, why: str) -> bool:
        """Kick (if present) and DM; True if they were in the room."""
        kicked = False
        if self.in_room(user_id) and not self.is_exempt(user_id):
            try:
                await self._svc.matrix.kick(self.support_room, user_id, why)
                kicked = True
            except MatrixError as exc:
                log.warning("could not remove %s: %s", user_id, exc)
                await self._svc.tell_staff(
                    texts.staff_line("bot", "removal failed", user_id, None, str(exc))
                )
        await self._tell_person(user_id, texts.removed(self.settings, self.prefix, why))
        return kicked
