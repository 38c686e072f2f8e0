"""Postal's message search syntax, `to:a@b.com status:held after:2024-01-31 invoice`, parsed into
conditions over a server's messages table.

As Postal's message list (its `QueryString` and `MessagesController#get_messages`): `to:`,
`from:`, `status:`, `tag:`, `msgid:`, `id:` and `token:` match the column exactly, a term given
twice matches either value, `[blank]` matches an empty column, values with spaces are quoted
(`tag:"big news"`), `order:oldest-first` lists the oldest first, and `before:`/`after:` take
`YYYY-MM-DD` or `YYYY-MM-DD HH:MM` — read as UTC here, where Postal used the server's zone; its
natural-language dates ("yesterday") are refused.
Beyond Postal: words outside a term match the subject (all of them, anywhere in it), and a term
Postal would silently ignore is refused with its name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, and_, func, or_

from core.errors import ValidationError
from models.base import table
from models.enums import MessageStatus
from models.message.message import Message

MESSAGES = table(Message)
FIELD = "q"
# Terms matched exactly against a column, as Postal does.
COLUMNS = {
    "to": MESSAGES.c.rcpt_to,
    "from": MESSAGES.c.mail_from,
    "status": MESSAGES.c.status,
    "tag": MESSAGES.c.tag,
    "msgid": MESSAGES.c.message_id,
    "id": MESSAGES.c.id,
    "token": MESSAGES.c.token,
}
TIMES = ("before", "after")
TERMS = (*COLUMNS, *TIMES, "spam", "order")
ORDERS = ("oldest-first", "newest-first")
BLANK = "[blank]"
STATUSES = {s.value.lower(): s.value for s in MessageStatus}
# key:"quoted value" | key:YYYY-MM-DD HH:MM | key:value | "quoted words" | word
TOKEN = re.compile(
    r"""\s*(?:
        (?P<key>[A-Za-z]+):\s*(?:"(?P<quoted>[^"]*)"|(?P<stamp>\d{4}-\d{2}-\d{2}\s\d{2}:\d{2})(?=\s|\Z)|(?P<value>[^\s"]*))
        |"(?P<phrase>[^"]*)"?
        |(?P<word>[^\s"]+)
    )""",
    re.VERBOSE,
)
DATE = re.compile(r"\A\d{4}-\d{2}-\d{2}\Z")
DATE_TIME = re.compile(r"\A\d{4}-\d{2}-\d{2}\s\d{2}:\d{2}\Z")


@dataclass
class Search:
    """A parsed query: column terms (each with the values it may take; None is `[blank]`), the
    time bounds as epoch seconds, the spam flag, and the words to find in the subject."""

    terms: dict[str, list[str | int | None]] = field(default_factory=dict)
    before: float | None = None
    after: float | None = None
    spam: bool | None = None
    words: list[str] = field(default_factory=list)
    oldest_first: bool = False

    def conditions(self) -> list[ColumnElement[bool]]:
        """The WHERE conditions of the query over the messages table (all must hold)."""
        found: list[ColumnElement[bool]] = []
        for name, values in self.terms.items():
            column = COLUMNS[name]
            options = [column.is_(None) if v is None else column == v for v in values]
            found.append(options[0] if len(options) == 1 else or_(*options))
        if self.before is not None:
            found.append(MESSAGES.c.timestamp < self.before)
        if self.after is not None:
            found.append(MESSAGES.c.timestamp > self.after)
        if self.spam is not None:
            found.append(MESSAGES.c.spam.is_(self.spam))
        for word in self.words:
            found.append(func.lower(MESSAGES.c.subject).contains(word.lower(), autoescape=True))
        return found

    def where(self) -> ColumnElement[bool] | None:
        conditions = self.conditions()
        return and_(*conditions) if conditions else None


def parse(query: str) -> Search:
    """Parse `query`; a term we do not know or a value we cannot use raises ValidationError naming it."""
    search = Search()
    position = 0
    text = query.strip()
    while position < len(text):
        match = TOKEN.match(text, position)
        if match is None or match.end() == position:  # pragma: no cover - every character matches a branch
            raise ValidationError(FIELD, f"cannot be read from {text[position:]!r}")
        position = match.end()
        if match["key"] is not None:
            key = match["key"].lower()
            value = next((v for v in (match["quoted"], match["stamp"], match["value"]) if v is not None), "")
            _add(search, key, value, quoted=match["quoted"] is not None)
        else:
            word = (match["phrase"] if match["phrase"] is not None else match["word"] or "").strip()
            if word:
                search.words.append(word)
    return search


def _add(search: Search, key: str, value: str, quoted: bool) -> None:
    if key not in TERMS:
        known = ", ".join(f"{t}:" for t in TERMS)
        raise ValidationError(
            FIELD, f"has an unknown term {key}: (known terms are {known}; quote words to find them in subjects)"
        )
    if value == "" and not quoted:
        raise ValidationError(FIELD, f"term {key}: needs a value (use {key}:{BLANK} for an empty one)")
    if key in TIMES:
        moment = _epoch(key, value)
        if key == "before":
            search.before = moment if search.before is None else min(search.before, moment)
        else:
            search.after = moment if search.after is None else max(search.after, moment)
        return
    if key == "order":
        if value.lower() not in ORDERS:
            raise ValidationError(FIELD, f"term order: must be {' or '.join(ORDERS)}, not {value!r}")
        search.oldest_first = value.lower() == ORDERS[0]
        return
    if key == "spam":
        flags = {"yes": True, "y": True, "true": True, "no": False, "n": False, "false": False}
        if value.lower() not in flags:
            raise ValidationError(FIELD, f"term spam: must be yes or no, not {value!r}")
        search.spam = flags[value.lower()]
        return
    search.terms.setdefault(key, []).append(_value(key, value, quoted))


def _value(key: str, value: str, quoted: bool) -> str | int | None:
    if value == BLANK and not quoted:
        if key == "id":
            raise ValidationError(FIELD, "term id: must be a message id (a number)")
        return None
    if key == "id":
        if not value.isdigit() or len(value) > 18:
            raise ValidationError(FIELD, f"term id: must be a message id (a number), not {value!r}")
        return int(value)
    if key == "status":
        status = STATUSES.get(value.lower())
        if status is None:
            raise ValidationError(FIELD, f"term status: must be one of {', '.join(STATUSES.values())}, not {value!r}")
        return status
    if key == "msgid":
        # Stored without the angle brackets of the header; accept it pasted with them.
        return value.strip().removeprefix("<").removesuffix(">")
    return value


def _epoch(key: str, value: str) -> float:
    text = " ".join(value.split())
    try:
        if DATE.match(text):
            moment = datetime.strptime(text, "%Y-%m-%d")
        elif DATE_TIME.match(text):
            moment = datetime.strptime(text, "%Y-%m-%d %H:%M")
        else:
            raise ValueError(text)
    except ValueError:
        raise ValidationError(
            FIELD, f"term {key}: must be a date, YYYY-MM-DD or YYYY-MM-DD HH:MM (UTC), not {value!r}"
        ) from None
    return moment.replace(tzinfo=UTC).timestamp()
