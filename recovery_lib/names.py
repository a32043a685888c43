"""Checkpoint name rules, checked before any I/O.

A name is a ``/``-separated path such as ``"runs/42/model"``. It becomes part of S3 keys and
of local file paths, so it must not be able to escape the store's prefix or collide with the
key layout (see :mod:`recovery_lib.manifest`):

- a non-empty ``str``, valid UTF-8 (no lone surrogates);
- no leading ``/``, no empty segment (``a//b``, a trailing ``/``), no ``.`` or ``..`` segment;
- no backslash and no control character;
- no ``@`` (it separates the name from the version in manifest keys);
- the longest key the store writes for it (``{prefix}manifests/{name}@{version}.json``) fits
  S3's 1,024-byte limit.
"""
from __future__ import annotations

import unicodedata

from . import manifest
from .errors import InvalidName

__all__ = ["validate_name", "validate_prefix", "MAX_KEY_BYTES"]

MAX_KEY_BYTES = 1024
_RESERVED = {"@": "it separates name and version in manifest keys"}


def validate_name(name: object, *, prefix: str = "") -> str:
    """Return ``name`` unchanged if it is a valid checkpoint name, else raise InvalidName.

    ``prefix`` is the store's key prefix; it counts towards the S3 key length limit.
    """
    if not isinstance(name, str):
        raise InvalidName(f"checkpoint name must be a str, got {type(name).__name__} {name!r}")
    if name == "":
        raise InvalidName("checkpoint name must not be empty")
    if name.endswith("/") and not name.startswith("/"):
        raise InvalidName(
            f"checkpoint name {_short(name)} ends with '/'; use 'a/b', not 'a/b/' "
            "(names are paths without empty segments)"
        )
    _check_common(name, what="checkpoint name")
    key_bytes = len(manifest.longest_manifest_key(prefix, name).encode("utf-8"))
    if key_bytes > MAX_KEY_BYTES:
        raise InvalidName(
            f"checkpoint name {_short(name)} is too long: its manifest key would be {key_bytes} "
            f"bytes (UTF-8) and S3 allows at most {MAX_KEY_BYTES}; this store's prefix "
            f"{prefix!r} leaves room for names of at most "
            f"{MAX_KEY_BYTES - (key_bytes - len(name.encode('utf-8')))} bytes"
        )
    return name


def validate_prefix(prefix: object, *, what: str = "prefix") -> str:
    """Validate a listing prefix (``""``, ``"runs/"``, ``"runs/4"``) or a store key prefix."""
    if not isinstance(prefix, str):
        raise InvalidName(f"{what} must be a str, got {type(prefix).__name__} {prefix!r}")
    if prefix == "":
        return prefix
    _check_common(prefix.removesuffix("/") if prefix.endswith("/") else prefix, what=what,
                  original=prefix)
    return prefix


def _check_common(value: str, *, what: str, original: str | None = None) -> None:
    shown = original if original is not None else value
    if value.startswith("/") or value == "":
        raise InvalidName(f"{what} {shown!r} starts with '/'; names are relative, e.g. 'runs/42'")
    for ch in value:
        if ch == "\\":
            raise InvalidName(f"{what} {_short(shown)} contains a backslash; use '/' to separate segments")
        if unicodedata.category(ch) == "Cc":
            raise InvalidName(
                f"{what} {_short(shown)} contains the control character {ch!r}; "
                "only printable characters are allowed"
            )
        if ch in _RESERVED:
            raise InvalidName(
                f"{what} {_short(shown)} contains {ch!r}, which is reserved: {_RESERVED[ch]}"
            )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidName(f"{what} {_short(shown)} is not valid UTF-8 ({exc.reason})") from exc
    for segment in value.split("/"):
        if segment == "":
            raise InvalidName(f"{what} {shown!r} has an empty segment ('//'); use 'a/b', not 'a//b'")
        if segment in (".", ".."):
            raise InvalidName(
                f"{what} {_short(shown)} has a {segment!r} segment; "
                "'.' and '..' segments are not allowed"
            )


def _short(value: str, limit: int = 80) -> str:
    return repr(value) if len(value) <= limit else repr(value[:limit]) + f"... ({len(value)} chars)"
