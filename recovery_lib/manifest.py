"""The key layout, version ids and the manifest format (pure: no I/O).

Layout under a store's key prefix ``P`` (``""`` or ending with ``/``)::

    P heads/{name}.json                  the head record: the current version's manifest,
                                         advanced by compare-and-swap (the commit point)
    P manifests/{name}@{version}.json   one immutable manifest per version (history)
    P blobs/sha256/{hex}                 immutable content-addressed blobs (large payloads)
    P shard-data/{name}@{step}/{rank}.{hex}   a shard's data, at its upload's own key,
                                         named by a multi-item manifest's blob ``key``
    P outage/{name}@{version}           marker of a commit made in a failover region

A version is committed once the head record names it (see :mod:`recovery_lib.heads` and
docs/consistency.md); its manifest is written right after. A version id ending in
``-deleted`` is a tombstone, which makes the name absent without deleting anything.

Version ids made by this library are ``c{seq:012d}-{time_ns:019d}-{8 hex}`` (``-rollback``
appended for a rollback, so an unpinned load knows which versions a rollback moved away
from even when that version's manifest is unreadable): ``seq`` is the
commit sequence number of the name (the head's ``seq`` plus one), so ids sort by commit
order whatever the writers' clocks say; the time only labels (and breaks a tie between two
regions that committed the same ``seq`` during a split, see :func:`order_key`). Stores
written before the head record existed have *legacy* ids ``{time_ns:019d}-{8 hex}``, which
sort before every commit-ordered id (``"c"`` sorts after the digits) and among themselves
by their writers' clocks, as they always did.

A manifest is canonical JSON (sorted keys, compact) with a ``checksum`` field, the SHA-256
of the canonical JSON of every other field, so a manifest changed behind the library's back
is detected like changed content. Schema 2 adds ``signature``: an HMAC-SHA256 of the same
canonical JSON under the store's manifest key (:mod:`recovery_lib.signing`), or null. The
checksum detects accidents; only the signature detects a writer who may write the prefix.
Schema 1 manifests (no signature field) keep loading when no key is configured.
Schema 3 adds ``step``: the caller's integer training step (:func:`validate_step`). A
manifest without a step is still written as schema 2, so readers of earlier versions keep
reading stores that use no steps; schemas 1 and 2 decode with ``step`` None.
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
from . import signing
from .errors import IntegrityError, InvalidData, InvalidName

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
    "ref_key",
    "shard_data_key",
    "shard_data_root",
    "longest_manifest_key",
    "head_key",
    "heads_prefix",
    "outage_key",
    "outage_prefix",
    "version_seq",
    "order_key",
    "validate_step",
]

SCHEMA_VERSION = 2  # written for manifests without a step; 3 for those with one
STEP_SCHEMA = 3
_SCHEMAS = (1, 2, 3)
MAX_STEP = 10 ** 15 - 1
SERIALIZERS = ("json", "raw", "pickle", "npy", "safetensors", "items")
TOMBSTONE_SUFFIX = "-deleted"
ROLLBACK_SUFFIX = "-rollback"
_VERSION_RE = re.compile(r"^(?:c(\d{12})-)?(\d{19})-[0-9a-f]{8}(?:-rollback)?(?:-deleted)?$")
_LONGEST_VERSION = "c" + "0" * 12 + "-" + "0" * 19 + "-" + "0" * 8 + ROLLBACK_SUFFIX + TOMBSTONE_SUFFIX
MAX_MANIFEST_BYTES = 8 * 1024 * 1024  # a manifest inlines at most a few hundred KiB
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_SHARD_DATA_RE = re.compile(r"shard-data/.+@\d{15}/\d{6}\.[0-9a-f]{32}")
_FIELDS_V1 = {
    "schema", "name", "version", "created_at", "origin_region", "serializer", "sha256",
    "size", "metadata", "blobs", "inline", "parent_version", "deleted", "checksum",
}
_FIELDS = {1: _FIELDS_V1, 2: _FIELDS_V1 | {"signature"}, 3: _FIELDS_V1 | {"signature", "step"}}
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

# --- version ids ---------------------------------------------------------------------

_last_ns = 0
_ns_lock = threading.Lock()


def new_version(*, deleted: bool = False, clock: Callable[[], int] = time.time_ns,
                seq: int | None = None, rollback: bool = False) -> str:
    """A fresh version id. With ``seq`` (the commit sequence number, >= 1) a commit-ordered
    id ``c{seq:012d}-{ns}-{hex}``; without, a legacy time-ordered id (kept for tests and
    tools that make ids by hand). The time part is strictly greater than any this process
    made before."""
    global _last_ns
    if seq is not None:  # unique by (seq, random part); the time is this writer's label only
        ns = clock()
    else:
        with _ns_lock:
            ns = max(clock(), _last_ns + 1)
            _last_ns = ns
    version = f"{ns:019d}-{secrets.token_hex(4)}"
    if seq is not None:
        if isinstance(seq, bool) or not isinstance(seq, int) or not 1 <= seq < 10 ** 12:
            raise ValueError(f"commit sequence number {seq!r} is not an int in [1, 10**12)")
        version = f"c{seq:012d}-{version}"
        if rollback:  # in the id, so a reader knows it even when the manifest is unreadable
            version += ROLLBACK_SUFFIX
    return version + TOMBSTONE_SUFFIX if deleted else version


def is_rollback(version: str) -> bool:
    """Whether the id says the version was made by a rollback (commit-ordered ids only;
    legacy ids do not say, so their manifests must be read to know)."""
    return version.endswith(ROLLBACK_SUFFIX)


def version_seq(version: str) -> int:
    """The commit sequence number in a version id; 0 for a legacy (clock-ordered) id."""
    match = _VERSION_RE.match(version)
    if match is None:
        raise InvalidName(f"version {version!r} is not a version id")
    return int(match.group(1)) if match.group(1) else 0


def order_key(version: str) -> tuple[int, str]:
    """The total commit order of versions of one name: by commit sequence number; two
    versions with the same number (two regions committed during a split) by the rest of
    the id (time label, then random part), so every reader merges them the same way.
    Equal to plain string order for well-formed ids (``sorted(ids)`` is commit order)."""
    return version_seq(version), version


def validate_version(version: object) -> str:
    if not isinstance(version, str) or not _VERSION_RE.match(version):
        raise InvalidName(
            f"version {version!r} is not a version id; expected the form "
            "'c000000000001-1718000000000000000-1a2b3c4d' (or a legacy "
            "'1718000000000000000-1a2b3c4d') as listed by versions()"
        )
    return version


def validate_step(step: object) -> int | None:
    """``step`` if it is None or an int in ``[0, MAX_STEP]``; InvalidData otherwise. A step
    is the caller's (a training step, an epoch): the store orders versions by commit, never
    by step, and saving a step that exists makes a new version of that step."""
    if step is None:
        return None
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= MAX_STEP:
        raise InvalidData(f"step {step!r} is not an int in [0, {MAX_STEP}] (or None for no step)")
    return step


def is_tombstone(version: str) -> bool:
    return version.endswith(TOMBSTONE_SUFFIX)


def version_time(version: str) -> dt.datetime:
    """The creation time encoded in a version id (aware, UTC)."""
    match = _VERSION_RE.match(version)
    ns = int(match.group(2)) if match else int(version[:19])
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


def head_key(prefix: str, name: str) -> str:
    return f"{prefix}heads/{name}.json"


def heads_prefix(prefix: str) -> str:
    return f"{prefix}heads/"


def outage_key(prefix: str, name: str, version: str) -> str:
    return f"{prefix}outage/{name}@{version}"


def outage_prefix(prefix: str) -> str:
    return f"{prefix}outage/"


def parse_outage_key(prefix: str, key: str) -> tuple[str, str] | None:
    root = outage_prefix(prefix)
    if not key.startswith(root):
        return None
    name, sep, version = key[len(root):].rpartition("@")
    if not sep or not name or not _VERSION_RE.match(version):
        return None
    return name, version


def blob_key(prefix: str, sha256: str) -> str:
    return f"{prefix}blobs/sha256/{sha256}"


def shard_data_root(prefix: str) -> str:
    return f"{prefix}shard-data/"


def shard_data_key(name: str, step: int, rank: int, token: str) -> str:
    """Where one upload of ``rank``'s shard of ``name`` at ``step`` goes, relative to the
    store prefix (``token``: 32 random hex digits, new for every upload, so a rank that
    saves again never overwrites bytes a committed version references)."""
    key = f"shard-data/{name}@{step:015d}/{rank:06d}.{token}"
    check_blob_location(name, key)
    return key


def check_blob_location(name: str, key: object) -> str:
    """``key`` if it is a shard-data key of ``name`` (the only keys a blob entry may name
    besides content addresses); IntegrityError otherwise, so a manifest cannot send a
    reader, GC or a reconcile to any other object."""
    if not isinstance(key, str) or not _SHARD_DATA_RE.fullmatch(key) or \
            key[len("shard-data/"):].rpartition("@")[0] != name:
        raise IntegrityError(f"blob key {key!r} is not a shard-data key of {name!r} "
                             f"(shard-data/{name}@<15 digits>/<6 digits>.<32 hex>)")
    return key


def ref_key(prefix: str, ref: BlobRef) -> str:
    """The object key holding ``ref``'s bytes: its own key, else its content address."""
    return f"{prefix}{ref.key}" if ref.key is not None else blob_key(prefix, ref.sha256)


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
    step: int | None = None

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
            step=self.step,
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


def encode(m: Manifest, *, signing_key: bytes | None = None) -> bytes:
    """Canonical JSON of ``m`` with its checksum (and its signature with ``signing_key``)."""
    body: dict[str, Any] = {
        "schema": SCHEMA_VERSION if m.step is None else STEP_SCHEMA,
        "name": m.name,
        "version": m.version,
        "created_at": m.created_at.astimezone(dt.timezone.utc).isoformat(),
        "origin_region": m.origin_region,
        "serializer": m.serializer,
        "sha256": m.sha256,
        "size": m.size,
        "metadata": m.metadata,
        "blobs": [_blob_entry(b) for b in m.blobs],
        "inline": None if m.inline is None else base64.b64encode(m.inline).decode("ascii"),
        "parent_version": m.parent_version,
        "deleted": m.deleted,
    }
    if m.step is not None:
        body["step"] = validate_step(m.step)
    unsigned = _canonical(body)
    body["signature"] = None if signing_key is None else signing.sign(signing_key, unsigned)
    canonical = _canonical(body)
    checksum = hashlib.sha256(canonical).hexdigest()
    # Appending keeps one serialization pass; decode re-canonicalizes without the field.
    return canonical[:-1] + b',"checksum":"' + checksum.encode("ascii") + b'"}'


def _blob_entry(ref: BlobRef) -> dict[str, Any]:
    entry: dict[str, Any] = {"sha256": ref.sha256, "size": ref.size}
    if ref.key is not None:
        entry["key"] = ref.key
    return entry


def peek_version(raw: bytes, *, key: str) -> str:
    """The version a manifest (a head record) says it is, before :func:`decode` checks it."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"manifest {key} is malformed: not valid JSON ({exc})") from exc
    version = body.get("version") if isinstance(body, dict) else None
    if not isinstance(version, str) or not _VERSION_RE.match(version):
        raise IntegrityError(f"manifest {key} is malformed: no valid 'version' field")
    return version


def decode(raw: bytes, *, key: str, name: str, version: str,
           signing_key: bytes | None = None) -> Manifest:
    """Parse and strictly validate a manifest read from ``key``; IntegrityError if bad,
    and (with ``signing_key``) if it is not signed with that key."""

    def bad(why: str) -> IntegrityError:
        return IntegrityError(f"manifest {key} is malformed: {why}")

    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad(f"not valid JSON ({exc})") from exc
    if not isinstance(body, dict):
        raise bad(f"expected a JSON object, got {type(body).__name__}")
    schema = body.get("schema")
    if schema not in _SCHEMAS or isinstance(schema, bool):
        raise bad(f"schema {schema!r}; this recovery_lib reads schemas {list(_SCHEMAS)}")
    fields = _FIELDS[schema]
    if set(body) != fields:
        missing, extra = sorted(fields - set(body)), sorted(set(body) - fields)
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
    signature = body.pop("signature", None)
    if signing_key is not None:
        if signature is None:
            raise signing.SignatureError(f"manifest {key} is not signed, and this store requires "
                                 f"signed manifests (a manifest key is set)")
        if not signing.verify(signing_key, _canonical(body), signature):
            raise signing.SignatureError(f"manifest {key} has a signature that does not verify with "
                                 "this store's manifest key: it was not written by a holder "
                                 "of the key, or was changed")

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
        if (not isinstance(entry, dict) or set(entry) - {"key"} != {"sha256", "size"}
                or not isinstance(entry["sha256"], str) or not _HEX64.match(entry["sha256"])
                or not isinstance(entry["size"], int) or isinstance(entry["size"], bool)):
            raise bad(f"blob entry {entry!r} is not {{'sha256': hex, 'size': int}} (and, for "
                      "a shard's data, 'key')")
        location = entry.get("key")
        if location is not None:
            if serializer != "items":
                raise bad(f"blob entry {entry!r}: only a multi-item manifest names blob keys")
            try:
                check_blob_location(name, location)
            except IntegrityError as exc:
                raise bad(str(exc)) from exc
        blobs.append(BlobRef(entry["sha256"], entry["size"], location))
    inline_text = typed("inline", (str, type(None)))
    inline: bytes | None = None
    if inline_text is not None:
        try:
            inline = base64.b64decode(inline_text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise bad("inline content is not valid base64") from exc
    if serializer == "items":  # the item index is inline; the blobs are the items' content
        if inline is None:
            raise bad("a multi-item manifest must hold its item index inline")
    elif (inline is None) == (not blobs) or len(blobs) > 1:
        raise bad("content must be either inline or exactly one blob")
    elif blobs and (blobs[0].sha256 != sha256 or blobs[0].size != size):
        raise bad("blob entry does not match the recorded sha256/size")
    parent = typed("parent_version", (str, type(None)))
    if parent is not None and not _VERSION_RE.match(parent):
        raise bad(f"parent_version {parent!r} is not a version id")
    if typed("deleted", bool) != is_tombstone(version):
        raise bad("'deleted' disagrees with the version id")
    step = body.get("step")
    if schema == STEP_SCHEMA:
        if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= MAX_STEP:
            raise bad(f"step {step!r} is not an int in [0, {MAX_STEP}]")
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
        step=step,
    )
