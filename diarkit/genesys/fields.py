"""Typed access to fields of decoded JSON, raising ``ProtocolError`` with the JSON path.

``null`` and absent fields read as ``None``; a value of the wrong JSON type is an error
naming where it is (``$.eventBody.transcripts[0].isFinal``) and what it was.
"""

from __future__ import annotations

from typing import Any

from .errors import ProtocolError

JSON = dict[str, Any]


def type_name(value: Any) -> str:
    """The JSON type of a decoded value: object, array, string, number, boolean or null."""
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), "number" if isinstance(value, int | float) else type(value).__name__
    )


def obj(value: Any, path: str) -> JSON:
    """``value`` itself if it is a JSON object."""
    if not isinstance(value, dict):
        raise ProtocolError(f"expected an object, got {type_name(value)}", path)
    return value


def array(o: JSON, key: str, path: str) -> list[Any]:
    """``o[key]`` as a list; absent or null reads as empty."""
    value = o.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ProtocolError(f"expected an array, got {type_name(value)}", f"{path}.{key}")
    return value


def string(o: JSON, key: str, path: str) -> str | None:
    """``o[key]`` as a string, or ``None``."""
    value = o.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProtocolError(f"expected a string, got {type_name(value)}", f"{path}.{key}")
    return value


def required_string(o: JSON, key: str, path: str) -> str:
    """``o[key]`` as a string; absent or null is an error."""
    value = string(o, key, path)
    if value is None:
        raise ProtocolError("required field is missing", f"{path}.{key}")
    return value


def number(o: JSON, key: str, path: str) -> float | None:
    """``o[key]`` as a float (JSON integers accepted, booleans not), or ``None``."""
    value = o.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError(f"expected a number, got {type_name(value)}", f"{path}.{key}")
    return float(value)


def integer(o: JSON, key: str, path: str) -> int | None:
    """``o[key]`` as an int (milliseconds and the like; floats truncated), or ``None``."""
    value = number(o, key, path)
    return None if value is None else int(o[key])


def boolean(o: JSON, key: str, path: str) -> bool | None:
    """``o[key]`` as true/false, or ``None``."""
    value = o.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ProtocolError(f"expected true or false, got {type_name(value)}", f"{path}.{key}")
    return value
