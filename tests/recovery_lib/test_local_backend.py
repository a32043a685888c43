"""The local-directory backend's own rules (issue 10 point 7): the 255-byte path-segment
limit is checked before anything is written, for the longest key a name derives; only the
backend's own temporary files are hidden from listings."""
from __future__ import annotations

import pathlib

import pytest

from recovery_lib import CheckpointStore, InvalidName, cli
from recovery_lib import manifest as mf
from recovery_lib.backends.local import LocalBackend

NAME_MAX = 255  # bytes per path segment on Linux/macOS file systems
BIG = b"0123456789abcdef" * 20_000  # over the inline limit: a blob is written first


def longest_last_segment(name: str) -> int:
    """Bytes a name's last segment may have on a local store: what the longest derived key
    (the deletion marker's manifest, ``{segment}@{version}-deleted.json``) adds is derived
    from the manifest module, not hard-coded."""
    overhead = len(mf.longest_manifest_key("", name).rsplit("/", 1)[-1].encode()) - len(name)
    return NAME_MAX - overhead


def files_under(root: pathlib.Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def root(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "store"


@pytest.mark.parametrize("how", ["save", "save-big", "save_file"])
def test_a_name_too_long_for_a_path_segment_is_refused_before_anything_is_written(root, tmp_path,
                                                                                    how):
    store = CheckpointStore.local(root)
    segment = "s" * (longest_last_segment("x") + 1)  # its normal manifest would still fit
    name = f"runs/{segment}"
    source = tmp_path / "weights.bin"
    source.write_bytes(BIG)
    with pytest.raises(InvalidName) as caught:
        if how == "save":
            store.save(name, {"epoch": 1})
        elif how == "save-big":
            store.save(name, BIG)
        else:
            store.save_file(name, source)
    message = str(caught.value)
    assert name[:60] in message and f"at most {NAME_MAX} bytes" in message
    assert "deletion marker" in message
    assert files_under(root) == []  # no orphaned blob, no manifest, no temporary file


def test_a_too_long_directory_segment_is_refused_up_front(root):
    store = CheckpointStore.local(root)
    name = "d" * (NAME_MAX + 1) + "/model"
    with pytest.raises(InvalidName, match=f"{NAME_MAX + 1} bytes"):
        store.save(name, BIG)
    assert files_under(root) == []


@pytest.mark.parametrize("char", ["s", "é"], ids=["ascii", "two-byte"])
def test_the_longest_accepted_name_can_be_saved_deleted_rolled_back_and_cleared(root, char):
    store = CheckpointStore.local(root)
    limit = longest_last_segment("x")
    segment = char * (limit // len(char.encode()))
    assert len(segment.encode()) > limit - 2
    name = f"runs/{segment}"
    first = store.save(name, BIG)
    store.save(name, {"v": 2})
    store.delete(name)
    assert not store.exists(name)
    assert store.rollback(name, first.version).parent_version == first.version
    assert store.load(name) == BIG
    assert store.clear("runs/") == 1 and not store.exists(name)


def test_directory_segments_ending_in_partial_are_listed_and_cleared(root):
    store = CheckpointStore.local(root)
    names = ["runs/exp.partial/model", "a.partial/b.partial/c", "plain"]
    for name in names:
        store.save(name, {"name": name})
    assert [c.name for c in store.list()] == sorted(names)
    assert [c.name for c in store.list("runs/exp.partial/")] == ["runs/exp.partial/model"]
    assert all(store.exists(n) and store.load(n) == {"name": n} for n in names)
    assert len(store.versions("a.partial/b.partial/c")) == 1
    assert store.clear() == 3
    assert store.list() == [] and not any(store.exists(n) for n in names)


def test_only_files_of_the_backends_temporary_form_are_hidden(root):
    backend = LocalBackend(root)
    backend.put("d/x.partial", b"a user file whose name ends in .partial")
    backend.put("d/.0123456789abcdef.partial/k", b"inside a directory of the temp form")
    orphan = root / "d" / ".fedcba9876543210.partial"  # what a crash mid-write leaves
    orphan.write_bytes(b"half written")
    assert sorted(backend.list("d/")) == [("d/.0123456789abcdef.partial/k", 35),
                                         ("d/x.partial", 39)]
    with pytest.raises(InvalidName, match="reserved for the local backend's temporary files"):
        backend.put("d/.00112233445566ff.partial", b"x")
    assert not (root / "d" / ".00112233445566ff.partial").exists()


def test_check_key_names_the_segment_and_the_limit_without_io(root):
    backend = LocalBackend(root)
    long_key = "a/" + "z" * 300 + "/b"
    with pytest.raises(InvalidName) as caught:
        backend.check_key(long_key)
    assert "300 bytes" in str(caught.value) and f"at most {NAME_MAX} bytes" in str(caught.value)
    backend.check_key("a/" + "z" * NAME_MAX + "/b")  # exactly the limit is fine
    assert files_under(root) == []


def test_cli_put_of_a_name_too_long_for_the_local_store_exits_2_and_writes_nothing(
        root, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(cli.ENV_PLATFORM, raising=False)
    source = tmp_path / "f.bin"
    source.write_bytes(BIG)
    name = "m/" + "n" * (longest_last_segment("x") + 1)
    code = cli.main(["--store", f"file://{root}", "put", name, str(source)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("InvalidName: ") and f"at most {NAME_MAX} bytes" in err
    assert files_under(root) == []


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_an_upload_whose_source_ends_early_stores_nothing(tmp_path, kind):
    """The Backend.upload contract every backend keeps (S3: test_s3_backend.py): a source
    that ends before ``size`` bytes is IntegrityError, and nothing is stored under the key
    (an old object there stays), no temporary file is left behind."""
    import io

    from recovery_lib import IntegrityError
    from recovery_lib.backends.memory import MemoryBackend

    backend = LocalBackend(tmp_path / "store") if kind == "local" else MemoryBackend()
    backend.put("blobs/x", b"old")
    with pytest.raises(IntegrityError, match=r"the source gave 5 bytes, expected 6"):
        backend.upload("blobs/x", io.BytesIO(b"12345"), 6)
    assert backend.get("blobs/x") == b"old"
    backend.upload("blobs/x", io.BytesIO(b"123456"), 6)
    assert backend.get("blobs/x") == b"123456"
    if kind == "local":
        assert files_under(tmp_path / "store") == ["blobs/x"]
