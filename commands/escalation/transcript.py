"""The ticket body: an HTML (and plain-text) transcript of one Matrix thread.

Edits applied, redactions left out, only the starting customer, their organisation's
colleagues and staff; images and files downloaded from the homeserver to be attached.
A message or file that carries a credential is never copied: it is replaced by a one-line
note (bot/secrets.py), even when the credentials protection that normally redacts it is off.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.events import Event, Kind, parse_event
from bot.html import esc
from bot.ids import matrix_to, server_of
from bot.matrix import MatrixError, MatrixGateway, Media
from bot.secrets import WITHHELD, WITHHELD_FILE, scan_file, scan_text
from commands.escalation.rt.rest2 import RTFile

log = logging.getLogger(__name__)

STOCKHOLM = ZoneInfo("Europe/Stockholm")
MAX_FILE_BYTES = 20 * 1024 * 1024
FILE_MSGTYPES = {"m.image", "m.file", "m.video", "m.audio"}


def stamp(ts_ms: int) -> tuple[str, str]:
    """(UTC, Europe/Stockholm) renderings of a Matrix timestamp."""
    t = datetime.fromtimestamp(ts_ms / 1000, UTC)
    return (
        t.strftime("%Y-%m-%d %H:%M:%S UTC"),
        t.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M:%S %Z Europe/Stockholm"),
    )


def display_name(matrix: MatrixGateway, room_id: str, user_id: str) -> str:
    return matrix.display_name(room_id, user_id)


def has_media(content: dict[str, Any]) -> bool:
    file = content.get("file")
    return isinstance(content.get("url"), str) or (isinstance(file, dict) and "url" in file)


async def fetch_media(matrix: MatrixGateway, content: dict[str, Any]) -> Media:
    """An image/file of a message, decrypted when it was sent in an encrypted room."""
    raw_info = content.get("info")
    info: dict[str, Any] = raw_info if isinstance(raw_info, dict) else {}
    name = str(content.get("filename") or content.get("body") or "file")
    file = content.get("file")
    if isinstance(file, dict) and file.get("url"):
        media = await matrix.download(str(file["url"]))
        data = matrix.decrypt_media(media.data, file, f"decrypt {name}")
        ctype = str(info.get("mimetype") or "application/octet-stream")
        return Media(data=data, content_type=ctype, filename=name)
    media = await matrix.download(str(content["url"]))
    ctype = str(info.get("mimetype") or media.content_type)
    return Media(data=media.data, content_type=ctype, filename=name)


async def safe_body(body: str) -> str:
    """`body`, or the withheld note when it carries a credential."""
    return WITHHELD if await scan_text(body) else body


async def safe_media(media: Media) -> bool:
    """Whether a downloaded file may be copied to RT (it carries no credential)."""
    return not await scan_file(media.data, media.filename, media.content_type)


def text_html(body: str) -> str:
    return esc(body).replace("\n", "<br>")


@dataclass
class Transcript:
    html: str
    text: str
    files: list[RTFile] = field(default_factory=list)
    included: list[str] = field(default_factory=list)  # event ids
    left_out: int = 0  # messages of people outside the customer's organisation


@dataclass
class ThreadMessage:
    event: Event
    body: str  # after edits


async def thread_messages(matrix: MatrixGateway, room_id: str, root_id: str) -> list[ThreadMessage]:
    """Root and replies, oldest first, with the latest edit of each applied.

    Raw events (not the core's parsed Event) because the edit is in the bundled
    `unsigned.m.relations.m.replace` aggregation, which the server attaches to the original.
    """
    raws = await matrix.thread_raw(room_id, root_id)
    out: list[ThreadMessage] = []
    for raw in raws:
        ev = parse_event(room_id, raw)
        if ev.kind is not Kind.message or ev.is_edit or not ev.content.get("msgtype"):
            continue  # redacted messages have empty content
        body = ev.body
        edit = ((raw.get("unsigned") or {}).get("m.relations") or {}).get("m.replace")
        if isinstance(edit, dict):
            if "content" not in edit and edit.get("event_id"):
                try:
                    edit = await matrix.raw_event(room_id, edit["event_id"])
                except MatrixError:
                    edit = {}
            new = (edit.get("content") or {}).get("m.new_content")
            if edit.get("sender") == ev.sender and isinstance(new, dict):
                body = str(new.get("body", body))
        out.append(ThreadMessage(ev, body))
    out.sort(key=lambda m: m.event.ts)
    return out


async def build_transcript(
    matrix: MatrixGateway,
    room_id: str,
    thread_id: str,
    *,
    allowed: Callable[[str], Awaitable[bool]],
    cutoff_ts: int | None = None,
    exclude: set[str] | None = None,
) -> Transcript:
    """`allowed(sender)` decides who may appear (customer, colleagues, staff, the bot)."""
    exclude = exclude or set()
    via = server_of(matrix.user_id)
    thread_link = matrix_to(room_id, thread_id, via)
    rows_html: list[str] = []
    rows_text: list[str] = []
    files: list[RTFile] = []
    t = Transcript("", "")
    for msg in await thread_messages(matrix, room_id, thread_id):
        ev = msg.event
        if ev.event_id in exclude or (cutoff_ts is not None and ev.ts > cutoff_ts):
            continue
        if not await allowed(ev.sender):
            t.left_out += 1
            continue
        name = display_name(matrix, room_id, ev.sender)
        utc, local = stamp(ev.ts)
        body = await safe_body(msg.body)
        note = ""
        if ev.msgtype in FILE_MSGTYPES and has_media(ev.content):
            fname = str(ev.content.get("filename") or ev.body or "file")
            if body == WITHHELD:  # the file's name or caption carries the credential
                fname = "file"
            try:
                media = await fetch_media(matrix, ev.content)
                if len(media.data) > MAX_FILE_BYTES:
                    note = f"[{fname}: too large to attach, {len(media.data)} bytes]"
                elif not await safe_media(media):
                    note = WITHHELD_FILE
                else:
                    files.append(
                        RTFile(filename=fname, content_type=media.content_type, data=media.data)
                    )
                    note = f"[attached: {fname}]"
            except MatrixError as exc:
                note = f"[{fname}: could not be downloaded: {exc}]"
            body = note
        rows_html.append(
            f"<p><b>{esc(name)}</b> ({esc(ev.sender)}) "
            f"<small>{esc(utc)} / {esc(local)}</small><br>{text_html(body)}</p>"
        )
        rows_text.append(f"{name} ({ev.sender}) {utc} / {local}\n{body}\n")
        t.included.append(ev.event_id)
    header_html = (
        f'<p>Escalated from a Matrix support thread: <a href="{esc(thread_link)}">'
        f"{esc(thread_link)}</a></p>"
    )
    header_text = f"Escalated from a Matrix support thread: {thread_link}\n\n"
    t.html = header_html + "<hr>" + "".join(rows_html)
    t.text = header_text + "\n".join(rows_text)
    t.files = files
    return t
