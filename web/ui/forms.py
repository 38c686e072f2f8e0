"""Form submissions: `application/x-www-form-urlencoded` and `multipart/form-data` (file uploads),
read with a size cap, as one `Form` of text fields and files."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import falcon

from web.body import BodyTooLarge, read_body


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Form:
    fields: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, Upload] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[-1] if values else default

    def getlist(self, name: str) -> list[str]:
        return list(self.fields.get(name, []))

    def has(self, name: str) -> bool:
        return name in self.fields

    def checked(self, name: str) -> bool:
        """A checkbox: present (with any value but "0"/"false") when ticked."""
        return self.get(name, "0").lower() not in ("", "0", "false", "off", "no")

    def optional(self, name: str) -> str | None:
        """The trimmed value, or None when empty."""
        value = self.get(name).strip()
        return value or None

    def as_dict(self) -> dict[str, Any]:
        """The last value of every field, for re-filling a form after an error."""
        return {name: values[-1] for name, values in self.fields.items() if values}


def read_form(req: falcon.Request, limit: int) -> Form:
    content_type = (req.content_type or "").split(";")[0].strip().lower()
    if req.content_length is not None and req.content_length > limit:
        raise BodyTooLarge(limit)
    if content_type == "multipart/form-data":
        return _multipart(req, limit)
    data = read_body(req, limit)
    form = Form()
    if content_type in ("", "application/x-www-form-urlencoded"):
        for name, value in parse_qsl(data.decode("utf-8", "replace"), keep_blank_values=True):
            form.fields.setdefault(name, []).append(value)
    return form


def _multipart(req: falcon.Request, limit: int) -> Form:
    form = Form()
    total = 0
    for part in req.get_media():
        data = part.stream.read(limit - total + 1)
        total += len(data)
        if total > limit:
            raise BodyTooLarge(limit)
        if part.filename:
            form.files[part.name] = Upload(part.secure_filename or "upload", part.content_type or "", data)
        else:
            form.fields.setdefault(part.name, []).append(data.decode("utf-8", "replace"))
    return form
