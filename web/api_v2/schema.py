"""The JSON Schema subset the API declares: one declaration serves validation and the OpenAPI document."""

from __future__ import annotations

import re
from typing import Any

from web.api_v2.errors import APIError

Schema = dict[str, Any]
# Most text columns are VARCHAR(255); longer values would fail in the database, not here.
TEXT = 255


def string(max_length: int = TEXT, min_length: int = 0, **extra: Any) -> Schema:
    return {"type": "string", "minLength": min_length, "maxLength": max_length, **extra}


def integer(minimum: int | None = None, maximum: int | None = None, **extra: Any) -> Schema:
    schema: Schema = {"type": "integer", **extra}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def number(minimum: float | None = None, maximum: float | None = None) -> Schema:
    schema: Schema = {"type": "number"}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def boolean() -> Schema:
    return {"type": "boolean"}


def enum(*values: str) -> Schema:
    return {"type": "string", "enum": list(values)}


def array(items: Schema, max_items: int | None = None) -> Schema:
    schema: Schema = {"type": "array", "items": items}
    if max_items is not None:
        schema["maxItems"] = max_items
    return schema


def nullable(schema: Schema) -> Schema:
    kind = schema["type"]
    result = {**schema, "type": [*(kind if isinstance(kind, list) else [kind]), "null"]}
    if "enum" in result:
        result["enum"] = [*result["enum"], None]
    return result


def obj(properties: dict[str, Schema], required: tuple[str, ...] = (), closed: bool = True) -> Schema:
    """An object; a closed one (the default, for request bodies) refuses unknown keys."""
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


def _is(kind: str, value: Any) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES[kind])


def errors(schema: Schema, value: Any, path: str = "") -> list[dict[str, str]]:
    """What is wrong with `value`, as `{"field", "message"}` items (empty when it is valid)."""
    where = path or "body"
    if "anyOf" in schema:
        options = [errors(option, value, path) for option in schema["anyOf"]]
        return [] if any(not found for found in options) else min(options, key=len)
    if "const" in schema and value != schema["const"]:
        return [{"field": where, "message": f"must be {schema['const']!r}"}]
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if not any(_is(k, value) for k in kinds):
            return [{"field": where, "message": f"must be {' or '.join(kinds)}"}]
    if "enum" in schema and value not in schema["enum"]:
        shown = ", ".join(str(v) for v in schema["enum"] if v is not None)
        return [{"field": where, "message": f"must be one of {shown}"}]
    found: list[dict[str, str]] = []
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return [{"field": where, "message": "must be valid UTF-8 text"}]
        if "\x00" in value:
            return [{"field": where, "message": "must not contain NUL characters"}]
        if len(value) > schema.get("maxLength", len(value)):
            found.append({"field": where, "message": f"must be at most {schema['maxLength']} characters"})
        if len(value) < schema.get("minLength", 0):
            found.append({"field": where, "message": f"must be at least {schema['minLength']} characters"})
        if "pattern" in schema and not re.search(schema["pattern"], value):
            found.append({"field": where, "message": f"must match {schema['pattern']}"})
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            found.append({"field": where, "message": f"must be at least {schema['minimum']}"})
        if "maximum" in schema and value > schema["maximum"]:
            found.append({"field": where, "message": f"must be at most {schema['maximum']}"})
    elif isinstance(value, list):
        if len(value) > schema.get("maxItems", len(value)):
            found.append({"field": where, "message": f"must have at most {schema['maxItems']} items"})
        for i, item in enumerate(value):
            found += errors(schema.get("items", {}), item, f"{where}[{i}]")
    elif isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                found.append({"field": _join(path, name), "message": "is required"})
        for name, item in value.items():
            if name in properties:
                found += errors(properties[name], item, _join(path, name))
            elif schema.get("additionalProperties") is False:
                found.append({"field": _join(path, str(name)), "message": "is not a known field"})
    return found


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def check(schema: Schema, value: Any, what: str = "request body") -> None:
    problems = errors(schema, value)
    if problems:
        raise APIError("invalid_request", f"the {what} is not valid", problems)
