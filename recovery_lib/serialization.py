"""Turning checkpoint data into bytes and back (pure).

- ``"json"`` (the default for JSON-compatible values): ``dict`` with ``str`` keys, ``list``,
  ``str``, ``int``, ``float`` (finite), ``bool`` and ``None``, exactly those types, so a load
  returns what was saved with the same types. Tuples, sets, NaN/inf, non-``str`` keys,
  subclasses (``IntEnum``, numpy scalars, ...) are refused rather than silently changed.
- ``"raw"`` (the default for ``bytes``, ``bytearray``, ``memoryview``): loads back as ``bytes``.
- ``"pickle"``: only when asked for on save, and loaded only with ``allow_pickle=True``
  (unpickling runs code chosen by whoever wrote the bytes).
- ``"npy"`` / ``"safetensors"``: arrays without pickle (:mod:`recovery_lib.arrays`, optional
  extra ``arrays``).
- ``"items"``: a multi-item checkpoint's index (:mod:`recovery_lib.items`); read with
  ``load_items``/``load_item``, never returned by ``load``.
"""
from __future__ import annotations

import copy
import json
import math
import pickle
from typing import Any, Mapping

from .errors import InvalidData

__all__ = ["dumps", "loads", "check_json_value"]

_SCALARS = (str, int, float, bool, type(None))


def dumps(data: object, serializer: str | None = None) -> tuple[bytes, str]:
    """Serialize ``data``; returns ``(payload, serializer_used)``. InvalidData if refused."""
    if serializer is None:
        serializer = "raw" if isinstance(data, (bytes, bytearray, memoryview)) else "json"
    if serializer == "raw":
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidData(
                f"serializer='raw' takes bytes, bytearray or memoryview, got {type(data).__name__}"
            )
        return bytes(data), "raw"
    if serializer == "json":
        check_json_value(data, what="checkpoint data")
        try:
            text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
            return text.encode("utf-8"), "json"
        except (ValueError, UnicodeEncodeError, RecursionError) as exc:
            raise InvalidData(f"checkpoint data cannot be stored as JSON: {exc}") from exc
    if serializer == "pickle":
        try:
            return pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL), "pickle"
        except (pickle.PicklingError, TypeError, AttributeError, RecursionError) as exc:
            raise InvalidData(
                f"checkpoint data of type {type(data).__name__} cannot be pickled: {exc}"
            ) from exc
    if serializer in ("npy", "safetensors"):
        from . import arrays

        return arrays.dumps(data, serializer)[0], serializer
    raise InvalidData(
        f"unknown serializer {serializer!r}; use None (automatic), 'json', 'raw', 'pickle', "
        "'npy' or 'safetensors'"
    )


def loads(payload: bytes, serializer: str, *, allow_pickle: bool = False, name: str = "?") -> Any:
    """Deserialize verified ``payload``; pickle only with ``allow_pickle=True``."""
    if serializer == "raw":
        return payload
    if serializer == "json":
        return json.loads(payload)
    if serializer == "pickle":
        if not allow_pickle:
            raise InvalidData(
                f"checkpoint {name!r} was saved with serializer='pickle'; pass "
                "allow_pickle=True to load it, and only if you trust whoever wrote it"
            )
        return pickle.loads(payload)
    if serializer in ("npy", "safetensors"):
        from . import arrays

        return arrays.loads(payload, serializer, name=name)
    if serializer == "items":
        raise InvalidData(f"checkpoint {name!r} holds named items; read it with "
                          "load_items(name) or load_item(name, item)")
    raise InvalidData(f"checkpoint {name!r} uses unknown serializer {serializer!r}")


def check_json_value(value: object, *, what: str) -> None:
    """Raise InvalidData unless ``value`` round-trips through JSON with its exact types."""
    stack: list[tuple[object, str]] = [(value, "")]
    active: set[int] = set()
    exits: list[tuple[int, int]] = []  # (stack depth at which to leave, id)
    while stack:
        while exits and len(stack) <= exits[-1][0]:
            active.discard(exits.pop()[1])
        item, path = stack.pop()
        kind = type(item)
        where = f"{what}{path}" if path else what
        if kind is float and not math.isfinite(item):  # type: ignore[arg-type]
            raise InvalidData(
                f"{where} is {item!r}; JSON has no NaN or infinity "
                "(store it as a string, or save with serializer='pickle')"
            )
        if kind in _SCALARS:
            continue
        if kind is dict or kind is list:
            if id(item) in active:
                raise InvalidData(f"{where} contains itself (a reference cycle); JSON cannot "
                                  "represent that (save with serializer='pickle')")
            active.add(id(item))
            exits.append((len(stack), id(item)))
            if kind is dict:
                for key, sub in item.items():  # type: ignore[union-attr]
                    if type(key) is not str:
                        raise InvalidData(
                            f"{where} has a key {key!r} of type {type(key).__name__}; JSON "
                            "object keys must be str (or save with serializer='pickle')"
                        )
                    stack.append((sub, f"{path}[{key!r}]"))
            else:
                for index, sub in enumerate(item):  # type: ignore[arg-type]
                    stack.append((sub, f"{path}[{index}]"))
            continue
        raise InvalidData(
            f"{where} has type {kind.__name__}, which does not round-trip through JSON; "
            "allowed: dict (str keys), list, str, int, float, bool, None, or bytes for raw "
            "content; pass serializer='pickle' to store other Python objects"
        )


def check_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """A checkpoint's user metadata: a JSON-compatible dict (``None`` is ``{}``), deep-copied
    so a caller's later changes cannot reach a queued or committed manifest."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidData(f"metadata must be a dict, got {type(metadata).__name__}")
    meta = dict(metadata)
    check_json_value(meta, what="metadata")
    return copy.deepcopy(meta)
