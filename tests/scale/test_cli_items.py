"""``recovery show`` lists the items of a multi-item checkpoint; ``get --item`` fetches one
(to a file or stdout); an unknown item exits 2 naming the items, and writes nothing."""
from __future__ import annotations

import json

import pytest

from recovery_lib import cli
from recovery_lib.store import CheckpointStore

ITEMS = {"model": b"w" * 5000, "position": {"epoch": 3}}


@pytest.fixture
def url(tmp_path, monkeypatch):
    monkeypatch.delenv(cli.ENV_PLATFORM, raising=False)
    store = CheckpointStore.local(tmp_path / "store")
    store.save_items("runs/7/state", ITEMS, step=900)
    store.save("plain", {"a": 1})
    return f"file://{tmp_path / 'store'}"


def test_show_lists_items_and_get_item_fetches_one(capsysbinary, tmp_path, url):
    assert cli.main(["--store", url, "--json", "show", "runs/7/state"]) == 0
    shown = json.loads(capsysbinary.readouterr().out)
    assert [(r["item"], r["serializer"], r["size"]) for r in shown["items"]] == [
        ("model", "raw", 5000), ("position", "json", 11)]
    assert shown["step"] == 900
    out = tmp_path / "model.bin"
    assert cli.main(["--store", url, "get", "runs/7/state", "--step", "900", "--item", "model",
                     "-o", str(out)]) == 0
    assert out.read_bytes() == ITEMS["model"]
    capsysbinary.readouterr()
    assert cli.main(["--store", url, "get", "runs/7/state", "--item", "position"]) == 0
    assert json.loads(capsysbinary.readouterr().out) == {"epoch": 3}


def test_unknown_item_exits_2_naming_the_items_and_writes_nothing(capsys, tmp_path, url):
    out = tmp_path / "x.bin"
    assert cli.main(["--store", url, "get", "runs/7/state", "--item", "optim",
                     "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no item 'optim'" in err and "its items are: model, position" in err
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "store"]
    assert cli.main(["--store", url, "get", "plain", "--item", "model", "-o", str(out)]) == 2
    assert "not a multi-item one" in capsys.readouterr().err and not out.exists()
    assert cli.main(["--store", url, "show", "plain"]) == 0
    assert "items:" not in capsys.readouterr().out
