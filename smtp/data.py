"""Reading the text of a message after DATA (RFC 5321 §4.1.1.4, §4.5.2).

The message ends only at CRLF "." CRLF. A "." line after a bare LF or a bare CR (`\\n.\\n`,
`\\r.\\r`, `\\n.\\r\\n`) is part of the message: receivers that end the data there let a sender
smuggle a second message past the first one's checks ("SMTP smuggling", CVE-2023-51766 and
friends; Postal 3 fixed it the same way, reference §5).
"""

from __future__ import annotations

import asyncio


async def read_message(reader: asyncio.StreamReader, size_limit: int | None) -> bytes | None:
    """The message up to the terminating CRLF.CRLF, dot-unstuffed, line endings untouched; None
    when it is larger than `size_limit` bytes. Either way everything up to the terminator is read,
    so the client is never left in the middle of its data and the session can go on (Postal
    checks the size only after the end, reference §5). Lines longer than the reader's limit are
    accepted in pieces: real mail breaks RFC 5322's 998 characters, and Postal takes it."""
    data = bytearray()
    size = 0
    too_large = False
    at_line_start = True
    while True:
        try:
            piece = await reader.readuntil(b"\r\n")
        except asyncio.LimitOverrunError as error:
            # No CRLF within the reader's limit: take what is there (never a split CRLF).
            piece = await reader.readexactly(error.consumed)
        if at_line_start:
            if piece == b".\r\n":
                break
            if piece.startswith(b"."):
                piece = piece[1:]
        at_line_start = piece.endswith(b"\r\n")
        size += len(piece)
        if too_large:
            continue
        if size_limit and size > size_limit:
            too_large = True
            data.clear()  # no point holding on to what will be refused
        else:
            data += piece
    return None if too_large else bytes(data)
