"""Multi-item checkpoints: one version holding named items, committed by one manifest.

A model, its optimizer state and a data-loader position belong together: a resume must
never pair the model of step 900 with the optimizer of step 800. ``save_items`` writes
every item as an immutable content-addressed blob (small items inline), then commits ONE
manifest with serializer ``"items"``: its inline payload is the *item index*, its blob list
the items' blobs. The commit is the store's usual head compare-and-swap, so a crash at any
point before it leaves the previous version current (all its items), and replication
checks, rollback and reconciliation see every item's blob (they walk the manifest's blobs).

The item index is canonical JSON::

    {"format": 1, "items": {"model": {"serializer": "raw", "sha256": "...", "size": 123},
                            "meta":  {"serializer": "json", "sha256": "...", "size": 9,
                                      "inline": "<base64>"},
                            "w":     {"serializer": "npy", ..., "spec": {"dtype": "<f4",
                                                                          "shape": [2, 3]}}},
     "extra": {...}}

Item values: a ``pathlib.Path`` (a file, streamed; loads back as bytes or into a file),
``bytes``-like (raw), a numpy array (``"npy"``), a non-empty dict of numpy arrays
(``"safetensors"``), anything else JSON (the store's strict JSON rules). Nothing is pickled.

Loads read the index from the manifest (one GET of the head) and only the items asked for;
every item is verified (size, SHA-256, and array dtype/shape against the index) and a
copy that does not verify is never returned: like ``load``, the other region or (unpinned)
an older version of the lineage is tried. Old single-blob checkpoints are untouched; asking
``load_items`` for one raises InvalidData naming it.

``save_dir``/``load_dir`` store a directory (a framework checkpoint folder) as items keyed
by relative POSIX path; ``load_dir`` restores into a temporary directory beside the
destination and renames it into place, so the destination appears complete or not at all.
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any, Mapping

from . import arrays, serialization
from . import manifest as mf
from ._files import create_temp_beside
from ._streams import DigestSink, HashingReader
from .checkpoint import BlobRef, Checkpoint
from .errors import IntegrityError, InvalidData, InvalidName
from .names import validate_name
from .scale_protocols import ScaleStore

__all__ = ["save_items", "load_items", "load_item", "item_index", "save_dir", "load_dir",
           "prepare_item", "PreparedItem", "parse_index"]

logger = logging.getLogger(__name__)

INDEX_FORMAT = 1
INLINE_ITEM_LIMIT = 4096  # items up to this size live in the index (no request of their own)
_HASH_CHUNK = 1024 * 1024
_SEGMENT = re.compile(r"[A-Za-z0-9_.+=@,-]{1,255}")
_ITEM_RULE = ("1-1024 characters of '/'-separated segments from A-Z a-z 0-9 _ . + = @ , -, "
              "no empty, '.' or '..' segment")


def check_item_name(item: object) -> str:
    if (not isinstance(item, str) or len(item) > 1024 or not item
            or any(not _SEGMENT.fullmatch(s) or s in (".", "..") for s in item.split("/"))):
        raise InvalidName(f"item name {item!r} is invalid: use {_ITEM_RULE}")
    return item


@dataclasses.dataclass(frozen=True)
class PreparedItem:
    """One item ready to be written: serialized bytes (``payload``) or a file (``path``)."""

    name: str
    serializer: str
    sha256: str
    size: int
    payload: bytes | None = None
    path: Path | None = None
    spec: dict[str, Any] | None = None
    key: str | None = None  # a shard's data key (relative to the prefix), else None

    @property
    def ref(self) -> BlobRef:
        return BlobRef(self.sha256, self.size, self.key)

    @property
    def inline(self) -> bool:
        return self.payload is not None and self.size <= INLINE_ITEM_LIMIT

    def entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"serializer": self.serializer, "sha256": self.sha256,
                                 "size": self.size}
        if self.inline:
            entry["inline"] = base64.b64encode(self.payload or b"").decode("ascii")
        if self.spec is not None:
            entry["spec"] = self.spec
        if self.key is not None:
            entry["key"] = self.key
        return entry


def prepare_item(item: str, value: Any) -> PreparedItem:
    """Serialize ``value`` (or hash the file it names) under item name ``item``."""
    check_item_name(item)
    if isinstance(value, os.PathLike):
        path = Path(value)
        st = stat_regular_file(f"item {item!r}", path)
        return PreparedItem(item, "raw", hash_file(path), st.st_size, path=path)
    spec = None
    if arrays.is_array(value):
        payload, spec = arrays.dumps(value, "npy")
        used = "npy"
    elif arrays.is_array_dict(value):
        payload, spec = arrays.dumps(value, "safetensors")
        used = "safetensors"
    else:
        try:
            payload, used = serialization.dumps(value, None)
        except InvalidData as exc:
            raise InvalidData(f"item {item!r}: {exc}") from exc
    return PreparedItem(item, used, hashlib.sha256(payload).hexdigest(), len(payload),
                        payload=payload, spec=spec)


def stat_regular_file(what: str, path: Path) -> os.stat_result:
    """``os.stat`` of ``path``; InvalidData (naming ``what`` the file is for, e.g.
    ``"item 'model'"``) unless it is a regular file."""
    try:
        st = os.stat(path)
    except FileNotFoundError as exc:
        raise InvalidData(f"{what}: file {str(path)!r} does not exist") from exc
    if not stat.S_ISREG(st.st_mode):
        raise InvalidData(f"{what}: {str(path)!r} is not a regular file")
    return st


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def put_blob(store: ScaleStore, region: str, item: PreparedItem, *, reuse: bool = True) -> BlobRef:
    """Write ``item``'s content at its content address in ``region`` (with ``reuse``,
    skipped when a blob that verifies is already there). A file that changes while it
    uploads fails the upload before it completes (IntegrityError), so no unverified bytes
    land at the address."""
    backend = store.backend(region)
    key = mf.blob_key(store.prefix, item.sha256)
    if reuse and store._call(region, backend.holds, key, item.sha256, item.size):
        return BlobRef(item.sha256, item.size)
    if item.payload is not None:
        store._call(region, backend.put, key, item.payload)
        return BlobRef(item.sha256, item.size)
    assert item.path is not None
    with open(item.path, "rb") as fh:
        reader = HashingReader(fh, expect=(item.size, item.sha256))
        try:
            store._call(region, backend.upload, key, reader, item.size)
        except IntegrityError as exc:
            raise IntegrityError(f"item {item.name!r}: file {str(item.path)!r} changed while "
                                 f"it was being saved; nothing was committed") from exc
    if reader.bytes_hashed != item.size or reader.hexdigest() != item.sha256:
        raise IntegrityError(f"item {item.name!r}: file {str(item.path)!r} changed while it "
                             "was being saved; nothing was committed")
    return BlobRef(item.sha256, item.size)


def commit_prepared(store: ScaleStore, name: str, prepared: list[PreparedItem], *,
                    step: int | None = None, metadata: Mapping[str, Any] | None = None,
                    extra: Mapping[str, Any] | None = None,
                    put_content: Any = None) -> Checkpoint:
    """Write the items' blobs (or run ``put_content(region)``, which returns the blob refs)
    and commit one manifest whose index names them all."""
    store._check_writable_name(name)
    step = mf.validate_step(step)
    meta = serialization.check_metadata(metadata)
    index = {"format": INDEX_FORMAT, "items": {p.name: p.entry() for p in prepared},
             "extra": dict(extra or {})}
    payload = json.dumps(index, sort_keys=True, separators=(",", ":")).encode("utf-8")
    if len(payload) > mf.MAX_MANIFEST_BYTES // 2:
        raise InvalidData(f"the item index of {name!r} has {len(payload)} bytes; at most "
                          f"{mf.MAX_MANIFEST_BYTES // 2} (fewer or larger items)")
    sha256 = hashlib.sha256(payload).hexdigest()

    def write_blobs(region: str) -> tuple[BlobRef, ...]:
        refs: dict[str, BlobRef] = {}
        for item in prepared:
            if not item.inline and item.sha256 not in refs:
                refs[item.sha256] = put_blob(store, region, item)
        return tuple(refs.values())

    def make(region: str, version: str, blobs: tuple[BlobRef, ...]) -> mf.Manifest:
        return mf.Manifest(name=name, version=version, created_at=mf.version_time(version),
                           origin_region=region, serializer="items", sha256=sha256,
                           size=len(payload), metadata=meta, blobs=blobs, inline=payload,
                           step=step)

    if put_content is not None:
        return store._commit(name, put_content, make)
    # as save(): a reused blob that GC removed while this commit ran is uploaded again
    return store._blob_still_there(store._commit(name, write_blobs, make), write_blobs)


def save_items(store: ScaleStore, name: str, items: Mapping[str, Any], *,
               step: int | None = None, metadata: Mapping[str, Any] | None = None) -> Checkpoint:
    """Save named items as ONE new version of ``name`` (see the module docstring)."""
    if not isinstance(items, Mapping) or not items:
        raise InvalidData(f"items must be a non-empty dict of item name to value, got "
                          f"{type(items).__name__}{' (empty)' if isinstance(items, Mapping) else ''}")
    store._check_writable_name(name)
    prepared = [prepare_item(key, value) for key, value in items.items()]
    return commit_prepared(store, name, prepared, step=step, metadata=metadata)


def parse_index(m: mf.Manifest, region: str) -> dict[str, Any]:
    if m.serializer != "items":
        raise InvalidData(f"checkpoint {m.name!r} version {m.version} is a single "
                          f"{m.serializer!r} checkpoint, not a multi-item one; use load()")
    payload = m.inline or b""
    if len(payload) != m.size or hashlib.sha256(payload).hexdigest() != m.sha256:
        raise IntegrityError(f"item index of {m.name!r} version {m.version} in the {region} "
                             "region does not verify")
    try:
        index = json.loads(payload)
        entries = index["items"]
        if index["format"] != INDEX_FORMAT or not isinstance(entries, dict):
            raise ValueError(f"format {index['format']!r}")
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"item index of {m.name!r} version {m.version} is malformed: "
                             f"{exc}") from exc
    return index


def _read_item(store: ScaleStore, region: str, m: mf.Manifest, item: str,
               entry: Mapping[str, Any], sink: Any) -> None:
    """Stream item ``item`` into ``sink`` and verify it (IntegrityError if it does not)."""
    if "inline" in entry:
        data = base64.b64decode(entry["inline"])
        sink.write(data)
        size, digest = len(data), hashlib.sha256(data).hexdigest()
    else:
        ref = BlobRef(entry["sha256"], entry["size"], entry.get("key"))
        if ref.key is not None and ref not in m.blobs:  # only keys the manifest vouches for
            raise IntegrityError(f"item {item!r} of {m.name!r} version {m.version} names blob "
                                 f"key {ref.key!r}, which its manifest does not list")
        hashing = _Tee(sink)
        store._download(region, mf.ref_key(store.prefix, ref), hashing,
                        expected_size=entry["size"])
        size, digest = hashing.digest.size, hashing.digest.hexdigest()
    if size != entry["size"] or digest != entry["sha256"]:
        raise IntegrityError(f"item {item!r} of {m.name!r} version {m.version} in the {region} "
                             f"region does not verify (expected {entry['size']} bytes with "
                             f"sha256 {entry['sha256'][:16]}..., got {size} bytes)")


class _Tee:
    """Writes to ``sink`` and hashes the bytes in order. It says it is not seekable, so
    every backend streams the blob front to back into it (S3: one GET, no ranged parts)."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.digest = DigestSink()

    def write(self, data: bytes) -> int:
        self.digest.write(data)
        return self.sink.write(data)

    def seekable(self) -> bool:
        return False


def _decode(item: str, entry: Mapping[str, Any], payload: bytes, name: str,
            expect: Any = None) -> Any:
    serializer = entry["serializer"]
    if serializer in arrays.ARRAY_SERIALIZERS:
        return arrays.loads(payload, serializer, spec=entry.get("spec"), expect=expect,
                            name=f"{name}:{item}")
    if expect is not None:
        raise InvalidData(f"expect= applies to array items; item {item!r} of {name!r} is "
                          f"{serializer!r}")
    if serializer not in ("raw", "json"):
        raise IntegrityError(f"item {item!r} of {name!r} has serializer {serializer!r}; "
                             "items are raw, json, npy or safetensors")
    return serialization.loads(payload, serializer, name=f"{name}:{item}")


def load_items(store: ScaleStore, name: str, items: list[str] | None = None, *,
               version: str | None = None, expect: Mapping[str, Any] | None = None
               ) -> dict[str, Any]:
    """The items of ``name`` (all, or only those in ``items``: only those are read), as
    saved (file items come back as bytes; use :func:`load_item` with ``dest`` to stream)."""
    return load_items_with_info(store, name, items, version=version, expect=expect)[0]


def load_items_with_info(store: ScaleStore, name: str, items: list[str] | None = None,
                         *, version: str | None = None,
                         expect: Mapping[str, Any] | None = None
                         ) -> tuple[dict[str, Any], Checkpoint]:
    wanted = None if items is None else [check_item_name(i) for i in items]
    expect = dict(expect or {})

    def fetch(region: str, m: mf.Manifest) -> dict[str, Any]:
        entries = parse_index(m, region)["items"]
        names = list(entries) if wanted is None else wanted
        missing = [i for i in names if i not in entries]
        if missing:
            raise InvalidData(f"checkpoint {name!r} version {m.version} has no item(s) "
                              f"{missing}; its items are {sorted(entries)}")
        out = {}
        for item in names:
            sink = DigestSink(keep=True)
            _read_item(store, region, m, item, entries[item], sink)
            out[item] = _decode(item, entries[item], sink.getvalue(), name, expect.get(item))
        return out

    return _resolve(store, name, version, fetch)


def load_item(store: ScaleStore, name: str, item: str,
              dest: str | os.PathLike[str] | None = None, *, version: str | None = None,
              expect: Any = None) -> Any:
    """One item of ``name``: its value, or with ``dest`` its bytes written to that file
    (streamed into a temporary file beside it, verified, then renamed; returns ``dest``)."""
    if dest is None:
        return load_items(store, name, [item], version=version,
                          expect=None if expect is None else {item: expect})[item]
    check_item_name(item)
    dest = Path(dest)

    def fetch(region: str, m: mf.Manifest) -> Path:
        entries = parse_index(m, region)["items"]
        if item not in entries:
            raise InvalidData(f"checkpoint {name!r} version {m.version} has no item {item!r}; "
                              f"its items are {sorted(entries)}")
        _write_file(store, region, m, item, entries[item], dest)
        return dest

    return _resolve(store, name, version, fetch)[0]


def _write_file(store: ScaleStore, region: str, m: mf.Manifest, item: str,
                entry: Mapping[str, Any], dest: Path) -> None:
    if not dest.parent.is_dir():
        raise FileNotFoundError(f"directory {str(dest.parent)!r} for {str(dest)!r} does not exist")
    fd, temp = create_temp_beside(dest)
    try:
        with open(fd, "wb") as fh:
            _read_item(store, region, m, item, entry, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, dest)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def item_index(store: ScaleStore, name: str, *, version: str | None = None
               ) -> dict[str, Any]:
    """The item index (``{"items": {...}, "extra": {...}}``) of ``name``; content unread."""
    return _resolve(store, name, version, lambda region, m: parse_index(m, region))[0]


def _resolve(store: ScaleStore, name: str, version: str | None, fetch: Any
             ) -> tuple[Any, Checkpoint]:
    validate_name(name, prefix=store.prefix)
    if version is not None:
        mf.validate_version(version)
    result, m, region = store._resolve(name, version, fetch)
    return result, m.to_checkpoint(region)  # type: ignore[arg-type]


def save_dir(store: ScaleStore, name: str, directory: str | os.PathLike[str], *,
             step: int | None = None, metadata: Mapping[str, Any] | None = None) -> Checkpoint:
    """Save every regular file under ``directory`` as items keyed by relative POSIX path
    (symbolic links and special files are refused: they do not restore portably)."""
    root = Path(directory)
    if not root.is_dir():
        raise InvalidData(f"{str(root)!r} is not a directory; save_dir takes a directory")
    files: dict[str, Any] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink() or not (path.is_dir() or path.is_file()):
            raise InvalidData(f"{str(path)!r} is a symbolic link or special file; save_dir "
                              "stores regular files only")
        if path.is_file():
            files[rel] = path
    store._check_writable_name(name)
    prepared = [prepare_item(rel, path) for rel, path in files.items()]
    return commit_prepared(store, name, prepared, step=step, metadata=metadata,
                           extra={"directory": True})


def load_dir(store: ScaleStore, name: str, dest: str | os.PathLike[str], *,
             version: str | None = None) -> Checkpoint:
    """Restore a :func:`save_dir` checkpoint as directory ``dest`` (which must not exist):
    built and verified in a temporary directory beside it, then renamed into place."""
    dest = Path(dest)
    if dest.exists():
        raise FileExistsError(f"{str(dest)!r} exists; load_dir creates the directory itself")
    if not dest.parent.is_dir():
        raise FileNotFoundError(f"directory {str(dest.parent)!r} does not exist")

    def fetch(region: str, m: mf.Manifest) -> None:
        entries = parse_index(m, region)["items"]
        temp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
        try:
            for item, entry in sorted(entries.items()):
                target = temp.joinpath(*check_item_name(item).split("/"))
                target.parent.mkdir(parents=True, exist_ok=True)
                _write_file(store, region, m, item, entry, target)
            os.chmod(temp, 0o755)  # mkdtemp makes it 0700; a restored folder is a plain one
            os.replace(temp, dest)
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise

    return _resolve(store, name, version, fetch)[1]

