"""The tracking rewrite of outgoing mail (reference §3.5): links through the track domain, the
open-tracking image, and the rewritten message stored so that a retry never rewrites it twice.

The pipeline calls `prepare` after the hold checks and `store` once the message is signed,
before it is sent: the links' rows must exist before a recipient can click one.
"""

from __future__ import annotations

import hashlib
import html
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from email.message import Message as EmailMessage
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import bindparam, delete, func, insert, select, update

from core.caches import ActiveTrackDomain
from core.mail.headers import join_raw
from core.mail.parts import rewrite_text_parts
from core.messages.raw_store import store_raw_messages
from core.messages.stats import add_raw_size
from core.queue.outcome import BatchContext
from core.tokens import random_string
from models.base import table
from models.message.link import Link
from models.message.message import Message
from models.message.raw import raw_table

MESSAGES = table(Message)
LINKS = table(Link)
# The width of the `links.token` column: long enough that nobody guesses a link to count clicks.
LINK_TOKEN_LENGTH = 16
# Postal's hidden paragraph around the open-tracking image.
PIXEL = (
    "<p class='ampimg' style='display:none;visibility:none;margin:0;padding:0;line-height:0;'>"
    "<img src='{src}' alt=''></p>"
)
_HREF = re.compile(r"""(\bhref\s*=\s*)(?:"(https?://[^"]*)"|'(https?://[^']*)')""", re.IGNORECASE)
# A bare URL in text; what ends it is trimmed below, as Postal trims trailing non-word characters.
_TEXT_URL = re.compile(r"(?<![\w+.-])https?://[^\s<>\"]+", re.IGNORECASE)
_TRAILING = re.compile(r"\W+\Z")
_NOTRACK = re.compile(r"\b(https?)\+notrack://", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
# The header fields the pipeline prepends before sending (reference §3.3 step 7).
_OWN_PREFIX = re.compile(
    rb"\A(?:DKIM-Signature:[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*)*X-Postal-MsgID:[^\r\n]*\r\n", re.IGNORECASE
)


@dataclass
class Rewrite:
    """What the rewrite did to one message."""

    header_block: bytes
    body: bytes
    changed: bool = False
    # (token, URL) of each tracked link, in the order they appear.
    links: list[tuple[str, str]] = field(default_factory=list)
    tracked_images: int = 0


def wanted(headers: EmailMessage) -> bool:
    """Postal skips a message whose `X-AMP` header says `skip`."""
    return str(headers.get("X-AMP", "")).strip().lower() != "skip"


def rewrite(
    header_block: bytes,
    body: bytes,
    track: ActiveTrackDomain,
    server_token: str,
    message_token: str,
    new_token: Callable[[], str] = lambda: random_string(LINK_TOKEN_LENGTH),
) -> Rewrite:
    """The message with its links tracked and the open-tracking image added (reference §3.5)."""
    result = Rewrite(header_block, body)
    prefix = f"{track.base}/{server_token}/"

    def tracked(url: str) -> str | None:
        try:
            host = urlsplit(url).hostname
        except ValueError:  # not a URL a browser would follow either
            return None
        if host is None or host.rstrip(".") in track.excluded:
            return None
        token = new_token()
        result.links.append((token, url))
        return prefix + token

    def in_html(match: re.Match[str]) -> str:
        quote = '"' if match.group(2) is not None else "'"
        written = match.group(2) if match.group(2) is not None else match.group(3)
        # The attribute's entities (`&amp;`) are HTML; the browser follows the URL they spell.
        link = tracked(html.unescape(written))
        return match.group(0) if link is None else f"{match.group(1)}{quote}{link}{quote}"

    def in_text(match: re.Match[str]) -> str:
        url = match.group(0)
        trailing = _TRAILING.search(url)
        end = trailing.group(0) if trailing else ""
        url = url[: len(url) - len(end)]
        link = tracked(url) if url else None
        # Postal drops the trimmed characters; they stay here, after the link.
        return match.group(0) if link is None else link + end

    def rewriter(subtype: str, text: str) -> str | None:
        new = text
        if track.track_clicks:
            new = (_HREF if subtype == "html" else _TEXT_URL).sub(in_html if subtype == "html" else in_text, new)
        new = _NOTRACK.sub(r"\1://", new)
        if track.track_loads and subtype == "html":
            pixel = PIXEL.format(src=f"{track.base}/img/{server_token}/{message_token}")
            ends = list(_BODY_END.finditer(new))
            new = new[: ends[-1].start()] + pixel + new[ends[-1].start() :] if ends else new + pixel
            result.tracked_images += 1
        return new if new != text else None

    rewritten = rewrite_text_parts(header_block, body, rewriter)
    if rewritten is not None:
        # The message is signed afresh over its new body: drop what an earlier attempt prepended
        # (a message stored before tracking was turned on, or one sharing its raw data).
        result.header_block = _OWN_PREFIX.sub(b"", rewritten[0])
        result.body = rewritten[1]
        result.changed = True
    else:
        result.links.clear()
        result.tracked_images = 0
    return result


def prepare(context: BatchContext, msg: Any, header_block: bytes, body: bytes) -> Rewrite | None:
    """The rewrite of a message not yet parsed, when its domain has a track domain with DNS OK;
    None when the message is not tracked (it is then left exactly as it is)."""
    if msg.domain_id is None:
        return None
    track = context.runtime.track_domains.get(context.state.server.id).get(msg.domain_id)
    if track is None:
        return None
    return rewrite(header_block, body, track, context.state.server.token, msg.token)


def store(context: BatchContext, msg: Any, result: Rewrite, header_block: bytes) -> None:
    """Store the rewrite before sending, in one transaction: the links, `parsed` with the counts,
    and, when the message changed, the signed header block and rewritten body.

    Several messages (the recipients of one SMTP transaction) may share their raw rows, so the
    rewritten message gets rows of its own in the same day's table; the old rows are deleted
    when no other message uses them.
    """
    now = time.time()
    mdb = context.runtime.message_dbs.get(context.state.server.id)
    changes: dict[str, Any] = {
        "parsed": True,
        "tracked_links": len(result.links),
        "tracked_images": result.tracked_images,
    }
    with mdb.transaction() as conn:
        if result.changed and msg.raw_table:
            name, [(headers_id, body_id)] = store_raw_messages(
                conn, mdb, [join_raw(header_block, result.body)], _day_of(msg.raw_table)
            )
            changes.update(raw_table=name, raw_headers_id=headers_id, raw_body_id=body_id)
            shared = conn.scalar(
                select(func.count()).where(
                    MESSAGES.c.raw_table == msg.raw_table,
                    MESSAGES.c.raw_headers_id == msg.raw_headers_id,
                    MESSAGES.c.id != msg.id,
                )
            )
            if not shared:
                _delete_raw(conn, msg.raw_table, [msg.raw_headers_id, msg.raw_body_id])
        conn.execute(update(MESSAGES).where(MESSAGES.c.id == msg.id).values(**changes))
        if result.links:
            conn.execute(
                insert(LINKS),
                [
                    {
                        "message_id": msg.id,
                        "token": token,
                        "hash": hashlib.sha1(url.encode("utf-8"), usedforsecurity=False).hexdigest(),
                        "url": url,
                        "timestamp": now,
                    }
                    for token, url in result.links
                ],
            )


def _day_of(raw_table_name: str) -> date:
    """The day of a `raw-YYYY-MM-DD` table, so the rewrite stays with the message's own day
    (retention drops raw data by whole days)."""
    try:
        return date.fromisoformat(raw_table_name.removeprefix("raw-"))
    except ValueError:
        return date.today()


def _delete_raw(conn: Any, name: str, first_ids: list[int]) -> None:
    """Delete raw parts with the chunks chained to them, and take their size off the table's."""
    table_ = raw_table(name)
    ids, size = [], 0
    wanted_ids = [i for i in first_ids if i is not None]
    while wanted_ids:
        rows = conn.execute(
            select(table_.c.id, table_.c.next, func.length(table_.c.data)).where(
                table_.c.id.in_(bindparam("b_ids", expanding=True))
            ),
            {"b_ids": wanted_ids},
        ).all()
        ids += [r[0] for r in rows]
        size += sum(int(r[2] or 0) for r in rows)
        wanted_ids = [r[1] for r in rows if r[1] is not None and r[1] not in ids]
    if ids:
        conn.execute(delete(table_).where(table_.c.id.in_(ids)))
        add_raw_size(conn, name, -size)
