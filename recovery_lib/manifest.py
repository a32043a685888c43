"""The key layout, version ids and the manifest format (pure: no I/O).

Layout under a store's key prefix ``P`` (``""`` or ending with ``/``)::

    P manifests/{name}@{version}.json   one immutable manifest per version, written last
    P blobs/sha256/{hex}                 immutable content-addressed blobs (large payloads)

A checkpoint version exists once its manifest exists. The current version of a name is its
greatest version id; a version id ending in ``-deleted`` is a tombstone, which makes the
name absent without deleting anything, so one LIST answers "what is current" for any
number of names.

Version ids are ``{time_ns:019d}-{8 hex}`` (``-deleted`` appended for tombstones): they sort
by creation time and are unique across processes.

A manifest is canonical JSON (sorted keys, compact) with a ``checksum`` field, the SHA-256
of the canonical JSON of every other field, so a manifest changed behind the library's back
is detected like changed content.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import hashlib
import json
import re
import secrets
import threading
import time
from typing import Any, Callable

from .checkpoint import BlobRef, Checkpoint, Region
from .errors import IntegrityError, InvalidName

__all__ = [
    "SCHEMA_VERSION",
    "SERIALIZERS",
    "Manifest",
    "encode",
    "decode",
    "new_version",
    "validate_version",
    "is_tombstone",
    "version_time",
    "manifests_root",
    "manifest_key",
    "versions_prefix",
    "listing_prefix",
    "parse_manifest_key",
    "blob_key",
    "longest_manifest_key",
]

SCHEMA_VERSION = 1
SERIALIZERS = ("json", "raw", "pickle")
TOMBSTONE_SUFFIX = "-deleted"
_VERSION_RE = re.compile(r"^(\d{19})-[0-9a-f]{8}(?:-deleted)?$")
_LONGEST_VERSION = "0" * 19 + "-" + "0" * 8 + TOMBSTONE_SUFFIX
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_FIELDS = {
    "schema", "name", "version", "created_at", "origin_region", "serializer", "sha256",
    "size", "metadata", "blobs", "inline", "parent_version", "deleted", "checksum",
}
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

# --- version ids ---------------------------------------------------------------------

_last_ns = 0
_ns_lock = threading.Lock()


def new_version(*, deleted: bool = False, clock: Callable[[], int] = time.time_ns) -> str:
    """A fresh version id, strictly greater than any this process made before."""
    global _last_ns
    with _ns_lock:
        ns = max(clock(), _last_ns + 1)
        _last_ns = ns
    version = f"{ns:019d}-{secrets.token_hex(4)}"
    return version + TOMBSTONE_SUFFIX if deleted else version


def validate_version(version: object) -> str:
    if not isinstance(version, str) or not _VERSION_RE.match(version):
        raise InvalidName(
            f"version {version!r} is not a version id; expected the form "
            "'1718000000000000000-1a2b3c4d' as listed by versions()"
        )
    return version


def is_tombstone(version: str) -> bool:
    return version.endswith(TOMBSTONE_SUFFIX)


def version_time(version: str) -> dt.datetime:
    """The creation time encoded in a version id (aware, UTC)."""
    ns = int(version[:19])
    return dt.datetime.fromtimestamp(ns // 1_000_000_000, dt.timezone.utc).replace(
        microsecond=(ns % 1_000_000_000) // 1000
    )


# --- key layout ------------------------------------------------------------------------

def manifests_root(prefix: str) -> str:
    return f"{prefix}manifests/"


def manifest_key(prefix: str, name: str, version: str) -> str:
    return f"{prefix}manifests/{name}@{version}.json"


def versions_prefix(prefix: str, name: str) -> str:
    """The LIST prefix matching every version of exactly ``name``."""
    return f"{prefix}manifests/{name}@"


def listing_prefix(prefix: str, name_prefix: str) -> str:
    """The LIST prefix matching every version of every name starting with ``name_prefix``."""
    return f"{prefix}manifests/{name_prefix}"


def parse_manifest_key(prefix: str, key: str) -> tuple[str, str] | None:
    """``(name, version)`` for a manifest key, or None for a key that is not one."""
    root = manifests_root(prefix)
    if not key.startswith(root) or not key.endswith(".json"):
        return None
    name, sep, version = key[len(root):-len(".json")].rpartition("@")
    if not sep or not name or not _VERSION_RE.match(version):
        return None
    return name, version


def blob_key(prefix: str, sha256: str) -> str:
    return f"{prefix}blobs/sha256/{sha256}"


def longest_manifest_key(prefix: str, name: str) -> str:
    return manifest_key(prefix, name, _LONGEST_VERSION)


# --- the manifest -----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Manifest:
    """The committed record of one version. ``inline`` holds small payloads."""

    name: str
    version: str
    created_at: dt.datetime
    origin_region: str
    serializer: str
    sha256: str
    size: int
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict, hash=False)
    blobs: tuple[BlobRef, ...] = ()
    inline: bytes | None = None
    parent_version: str | None = None

    @property
    def deleted(self) -> bool:
        return is_tombstone(self.version)

    def to_checkpoint(self, region: Region) -> Checkpoint:
        return Checkpoint(
            name=self.name,
            version=self.version,
            sha256=self.sha256,
            size=self.size,
            created_at=self.created_at,
            metadata=dict(self.metadata),
            region=region,
            serializer=self.serializer,
            blobs=self.blobs,
            parent_version=self.parent_version,
            deleted=self.deleted,
            origin_region=self.origin_region,
        )


def tombstone(name: str, version: str, *, origin_region: str) -> Manifest:
    return Manifest(
        name=name, version=version, created_at=version_time(version),
        origin_region=origin_region, serializer="raw", sha256=EMPTY_SHA256, size=0,
        inline=b"",
    )


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def encode(m: Manifest) -> bytes:
    body: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "name": m.name,
        "version": m.version,
        "created_at": m.created_at.astimezone(dt.timezone.utc).isoformat(),
        "origin_region": m.origin_region,
        "serializer": m.serializer,
        "sha256": m.sha256,
        "size": m.size,
        "metadata": m.metadata,
        "blobs": [{"sha256": b.sha256, "size": b.size} for b in m.blobs],
        "inline": None if m.inline is None else base64.b64encode(m.inline).decode("ascii"),
        "parent_version": m.parent_version,
        "deleted": m.deleted,
    }
    canonical = _canonical(body)
    checksum = hashlib.sha256(canonical).hexdigest()
    # Appending keeps one serialization pass; decode re-canonicalizes without the field.
    return canonical[:-1] + b',"checksum":"' + checksum.encode("ascii") + b'"}'


def decode(raw: bytes, *, key: str, name: str, version: str) -> Manifest:
    """Parse and strictly validate a manifest read from ``key``; IntegrityError if bad."""

    def bad(why: str) -> IntegrityError:
        return IntegrityError(f"manifest {key} is malformed: {why}")

    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad(f"not valid JSON ({exc})") from exc
    if not isinstance(body, dict):
        raise bad(f"expected a JSON object, got {type(body).__name__}")
    if body.get("schema") != SCHEMA_VERSION:
        raise bad(f"schema {body.get('schema')!r}; this recovery_lib reads schema {SCHEMA_VERSION}")
    if set(body) != _FIELDS:
        missing, extra = sorted(_FIELDS - set(body)), sorted(set(body) - _FIELDS)
        raise bad(f"fields missing {missing}, unexpected {extra}")
    checksum = body.pop("checksum")
    try:
        canonical = _canonical(body)
    except ValueError as exc:
        raise bad(f"not canonical JSON ({exc})") from exc
    if checksum != hashlib.sha256(canonical).hexdigest():
        raise IntegrityError(
            f"manifest {key} does not match its checksum: it was changed after it was written"
        )

    def typed(field: str, kind: type | tuple[type, ...]) -> Any:
        value = body[field]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise bad(f"field {field!r} has type {type(value).__name__}")
        return value

    if typed("name", str) != name or typed("version", str) != version:
        raise bad(f"it records {body['name']!r}@{body['version']!r}, its key says {name!r}@{version!r}")
    if not _VERSION_RE.match(version):
        raise bad(f"version {version!r} is not a version id")
    try:
        created_at = dt.datetime.fromisoformat(typed("created_at", str))
    except ValueError as exc:
        raise bad(f"created_at {body['created_at']!r} is not an ISO 8601 time") from exc
    if created_at.tzinfo is None:
        raise bad(f"created_at {body['created_at']!r} has no time zone")
    serializer = typed("serializer", str)
    if serializer not in SERIALIZERS:
        raise bad(f"serializer {serializer!r} is not one of {list(SERIALIZERS)}")
    sha256 = typed("sha256", str)
    if not _HEX64.match(sha256):
        raise bad(f"sha256 {sha256!r} is not 64 lowercase hex digits")
    size = typed("size", int)
    if size < 0:
        raise bad(f"size {size} is negative")
    blobs: list[BlobRef] = []
    for entry in typed("blobs", list):
        if (not isinstance(entry, dict) or set(entry) != {"sha256", "size"}
                or not isinstance(entry["sha256"], str) or not _HEX64.match(entry["sha256"])
                or not isinstance(entry["size"], int) or isinstance(entry["size"], bool)):
            raise bad(f"blob entry {entry!r} is not {{'sha256': hex, 'size': int}}")
        blobs.append(BlobRef(entry["sha256"], entry["size"]))
    inline_text = typed("inline", (str, type(None)))
    inline: bytes | None = None
    if inline_text is not None:
        try:
            inline = base64.b64decode(inline_text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise bad("inline content is not valid base64") from exc
    if (inline is None) == (not blobs) or len(blobs) > 1:
        raise bad("content must be either inline or exactly one blob")
    if blobs and (blobs[0].sha256 != sha256 or blobs[0].size != size):
        raise bad("blob entry does not match the recorded sha256/size")
    parent = typed("parent_version", (str, type(None)))
    if parent is not None and not _VERSION_RE.match(parent):
        raise bad(f"parent_version {parent!r} is not a version id")
    if typed("deleted", bool) != is_tombstone(version):
        raise bad("'deleted' disagrees with the version id")
    return Manifest(
        name=name,
        version=version,
        created_at=created_at.astimezone(dt.timezone.utc),
        origin_region=typed("origin_region", str),
        serializer=serializer,
        sha256=sha256,
        size=size,
        metadata=typed("metadata", dict),
        blobs=tuple(blobs),
        inline=inline,
        parent_version=parent,
    )
