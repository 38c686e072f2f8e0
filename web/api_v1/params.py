"""Reading API v1 parameters: a size-limited body, JSON or a `params` form field, Moonrope's checks.

Moonrope (and Postal v3 after it) takes the parameters from a JSON body when the Content-Type is
`application/json`, otherwise from a `params` field holding JSON, in a form body (urlencoded or
multipart) or the query string. Declared parameters are then checked in declaration order with
Moonrope's texts: "`x` parameter is required but is missing", "`to` should be a `Array` but is a
`String`", "`bounce` should be a boolean value".
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import falcon
import falcon.media

from web.api_v1.envelope import ParameterError

_JSON_TYPE = re.compile(r"^application/json", re.I)

# Moonrope's boolean parameter values (Moonrope::Action::TRUE_LIKE_VALUES / FALSE_LIKE_VALUES).
_TRUE_LIKE = ("true", "1", 1, True)
_FALSE_LIKE = ("false", "0", 0, False)


class InvalidJSON(Exception):
    """The body (or the `params` field) is not a JSON object: HTTP 400 `invalid-json`."""


def parse_params(req: falcon.Request, body: bytes) -> dict[str, Any]:
    if _JSON_TYPE.match(req.content_type or ""):
        # Rails reads an empty JSON body as no parameters.
        return _json_object(body) if body.strip() else {}
    text = _form_params(req, body)
    if text is None or not text.strip():
        return {}
    return _json_object(text)


def _json_object(data: bytes | str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJSON(str(exc)) from None
    if not isinstance(value, dict):
        raise InvalidJSON("the parameters must be a JSON object")
    return value


def _form_params(req: falcon.Request, body: bytes) -> str | None:
    """The `params` field: from the body (urlencoded or multipart), else from the query string."""
    content_type = (req.content_type or "").lower()
    if content_type.startswith("multipart/form-data") and body:
        try:
            form = falcon.media.MultipartFormHandler().deserialize(io.BytesIO(body), req.content_type, len(body))
            for part in form:
                if part.name == "params":
                    return str(part.get_text())
        except (falcon.MediaMalformedError, falcon.HTTPError, ValueError) as exc:
            raise InvalidJSON(f"unreadable multipart body: {exc}") from None
    elif body:
        values = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).get("params")
        if values:
            return values[-1]
    values = parse_qs(req.query_string or "", keep_blank_values=True).get("params")
    return values[-1] if values else None


# -- declared parameters ----------------------------------------------------------------------

BOOLEAN = "boolean"
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "String": (str,),
    "Integer": (int,),
    "Array": (list,),
    "Hash": (dict,),
}


@dataclass(frozen=True)
class Param:
    """A declared parameter: `kind` is a Ruby class name (`String`, `Array`…) or `boolean`."""

    name: str
    kind: str
    required: bool = False
    # Postal v3 also takes a string for an Integer parameter (`"id": "12"`).
    strings: bool = False


def ruby_class(value: Any) -> str:
    """The Ruby class name of a JSON value, as Moonrope's type error names it."""
    if value is True:
        return "TrueClass"
    if value is False:
        return "FalseClass"
    if isinstance(value, int):
        return "Integer"
    return {float: "Float", str: "String", list: "Array", dict: "Hash"}.get(type(value), "NilClass")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def validate(params: dict[str, Any], declared: Sequence[Param]) -> dict[str, Any]:
    """`params` with booleans made True/False; raises ParameterError for the first bad one."""
    checked = dict(params)
    for param in declared:
        value = checked.get(param.name)
        if param.required and _blank(value):
            raise ParameterError(f"`{param.name}` parameter is required but is missing")
        if value is None:
            continue
        if param.kind == BOOLEAN:
            if value in _TRUE_LIKE and type(value) in (bool, int, str):
                checked[param.name] = True
            elif value in _FALSE_LIKE and type(value) in (bool, int, str):
                checked[param.name] = False
            else:
                raise ParameterError(f"`{param.name}` should be a boolean value")
            continue
        accepted = _PYTHON_TYPES[param.kind] + ((str,) if param.strings else ())
        if not isinstance(value, accepted) or isinstance(value, bool):
            raise ParameterError(f"`{param.name}` should be a `{param.kind}` but is a `{ruby_class(value)}`")
    return checked


def strings_in(params: dict[str, Any], name: str) -> list[str]:
    """The items of an Array parameter, which must all be strings."""
    items = params.get(name) or []
    if not all(isinstance(item, str) for item in items):
        raise ParameterError(f"`{name}` should only contain `String` values")
    return list(items)
