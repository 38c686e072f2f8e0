"""The Jinja2 environment of the web UI: templates under `web/templates/ui`, autoescaped, with the
filters the pages share."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "ui"


def _as_datetime(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        return None


def when(value: Any) -> str:
    """`3 Dec 2026 14:05` (UTC), or an em dash for nothing."""
    moment = _as_datetime(value)
    return "—" if moment is None else moment.strftime("%-d %b %Y %H:%M")


def when_full(value: Any) -> str:
    moment = _as_datetime(value)
    return "—" if moment is None else moment.strftime("%-d %B %Y at %H:%M:%S UTC")


def filesize(value: Any) -> str:
    size = float(value or 0)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def query_with(args: dict[str, Any], **changes: Any) -> str:
    """`?…` of `args` with `changes` applied (None removes a key): pagination and filter links."""
    merged = {k: v for k, v in {**args, **changes}.items() if v not in (None, "")}
    return "?" + urlencode(merged) if merged else "?"


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=when, when_full=when_full, filesize=filesize)
    env.globals.update(query_with=query_with)
    return env
