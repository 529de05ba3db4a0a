"""Media: upload, download, and attachment encryption (nio's crypto)."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Any

import nio
from nio.crypto.attachments import decrypt_attachment, encrypt_attachment
from nio.exceptions import EncryptionError

from bot.matrix.base import GatewayBase
from bot.matrix.errors import MatrixError, check

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Media:
    data: bytes
    content_type: str
    filename: str


class MediaStore(GatewayBase):
    async def download(self, mxc: str) -> Media:
        resp = await self.client.download(mxc=mxc)
        resp = check(resp, nio.DownloadResponse, f"download {mxc}")
        return Media(
            data=resp.body,
            content_type=resp.content_type or "application/octet-stream",
            filename=resp.filename or mxc.rsplit("/", 1)[-1],
        )

    async def upload(self, data: bytes, content_type: str, filename: str) -> str:
        resp, _keys = await self.client.upload(
            io.BytesIO(data), content_type=content_type, filename=filename, filesize=len(data)
        )
        uri: str = check(resp, nio.UploadResponse, f"upload {filename}").content_uri
        return uri

    @staticmethod
    def decrypt_media(data: bytes, file: dict[str, Any], what: str) -> bytes:
        """Plaintext of an encrypted attachment (``file`` is the event's EncryptedFile)."""
        try:
            plain: bytes = decrypt_attachment(
                data, file["key"]["k"], file["hashes"]["sha256"], file["iv"]
            )
            return plain
        except (KeyError, TypeError, ValueError, EncryptionError) as exc:
            raise MatrixError(what, str(exc)) from exc

    @staticmethod
    def encrypt_media(data: bytes) -> tuple[bytes, dict[str, Any]]:
        """(ciphertext, EncryptedFile keys without ``url``) for an end-to-end encrypted upload.

        CPU work: call it through ``asyncio.to_thread`` for large files.
        """
        cipher, keys = encrypt_attachment(data)
        return cipher, dict(keys)
