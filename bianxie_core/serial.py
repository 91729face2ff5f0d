"""One serialiser for the records kept as JSON (job folders, settings kept with a result):
dataclasses, Enums, NamedTuples such as ``Extent``/``Bounds``, tuples, lists and dicts to plain
data and back, led by the dataclass's field types. No numpy, no Pillow."""

from __future__ import annotations

import dataclasses
import enum
import sys
import typing
from functools import lru_cache
from pathlib import PurePath
from typing import Any, Dict, Type, Union


def to_data(value: Any) -> Any:
    """``value`` as JSON-ready data: a dataclass becomes a dict of its fields, an Enum its
    value, a tuple (NamedTuple too) a list."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [to_data(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_data(v) for k, v in value.items()}
    if isinstance(value, PurePath):
        return str(value)
    return value


def from_data(kind: Any, data: Any) -> Any:
    """``data`` (from ``to_data``) as ``kind``. Fields a dataclass does not know are ignored
    and missing ones take their defaults, so older and newer records both read."""
    if data is None or kind is Any:
        return data
    origin = typing.get_origin(kind)
    if origin is Union or type(kind).__name__ == "UnionType":
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        if len(options) != 1:
            return data
        return from_data(options[0], data)
    if origin in (list, tuple, dict):
        args = typing.get_args(kind)
        if origin is dict:
            item = args[1] if args else Any
            return {k: from_data(item, v) for k, v in dict(data).items()}
        if origin is tuple and args and args[-1] is not Ellipsis:
            return tuple(from_data(k, v) for k, v in zip(args, data))
        item = args[0] if args else Any
        return origin(from_data(item, v) for v in data)
    if not isinstance(kind, type):
        return data
    if dataclasses.is_dataclass(kind):
        hints = _hints(kind)
        known = {f.name for f in dataclasses.fields(kind) if f.init}
        return kind(**{k: from_data(hints[k], v) for k, v in dict(data).items() if k in known})
    if issubclass(kind, enum.Enum):
        return kind(data)
    if issubclass(kind, tuple) and hasattr(kind, "_fields"):  # a NamedTuple
        hints = _hints(kind)
        return kind(*(from_data(hints.get(f, Any), v) for f, v in zip(kind._fields, data)))
    if kind in (list, tuple):
        return kind(data)
    if kind is float and isinstance(data, int):
        return float(data)
    return data


@lru_cache(maxsize=None)
def _hints(kind: Type) -> Dict[str, Any]:
    """The field types of ``kind``, with ``X | None`` read on Python 3.9 as well."""
    try:
        return typing.get_type_hints(kind)
    except TypeError:  # Python 3.9: "X | None" in a string annotation
        scope = vars(sys.modules[kind.__module__])
        hints = {}
        for name, text in getattr(kind, "__annotations__", {}).items():
            if isinstance(text, str):
                parts = [eval(p.strip(), scope) for p in text.split("|")]  # noqa: S307
                text = Union[tuple(parts)] if len(parts) > 1 else parts[0]
            hints[name] = text
        return hints

