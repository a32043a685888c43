"""Multi-item checkpoints on the command line (``save_items``, ``save_dir``, sharded).

``recovery show NAME`` lists the items of such a checkpoint (from its manifest's item
index; no content is read); ``recovery get NAME --item ITEM [-o FILE]`` fetches one item,
verified, to a file (written beside it, then renamed) or to stdout. An item the version
does not have is bad input: exit 2, naming the items it has, and nothing is written.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any, Callable

from recovery_lib.cli_context import EXIT_OK, Context, UsageError
from recovery_lib.cli_output import checkpoint_dict, table

__all__ = ["add_item_option", "get_item", "item_rows", "show_items", "copy_to_stdout"]

_COPY_CHUNK = 1024 * 1024


def add_item_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--item", metavar="ITEM",
                        help="one item of a multi-item checkpoint ('show NAME' lists them)")


def item_rows(index: dict[str, Any]) -> list[dict[str, Any]]:
    """The items of an item index as stable JSON objects, by item name."""
    rows = []
    for item, entry in sorted(index["items"].items()):
        row = {"item": item, "serializer": entry["serializer"], "size": entry["size"],
               "sha256": entry["sha256"]}
        if entry.get("spec") is not None:
            row["spec"] = entry["spec"]
        rows.append(row)
    return rows


def show_items(ctx: Context, checkpoint: Any) -> tuple[dict[str, Any], Callable[[], Iterator[str]]]:
    """``show``'s JSON object and lines for a multi-item checkpoint."""
    index = ctx.store.item_index(checkpoint.name, version=checkpoint.version)
    rows = item_rows(index)
    data = {**checkpoint_dict(checkpoint), "items": rows, "item_extra": index.get("extra", {})}

    def lines() -> Iterator[str]:
        yield f"{'items:':<11} {len(rows)}"
        yield from ("  " + line for line in table(
            [(r["item"], r["serializer"], str(r["size"]), r["sha256"][:16]) for r in rows],
            ("ITEM", "SERIALIZER", "SIZE", "SHA256")))

    return data, lines


def get_item(ctx: Context, version: str | None) -> int:
    """``get NAME --item ITEM``: one item of ``version`` (default: the current one)."""
    store, args = ctx.store, ctx.args
    checkpoint = store.info(args.name, version=version)  # then that version, whatever
    if checkpoint.serializer != "items":               # commits meanwhile
        raise UsageError(f"{args.name!r} version {checkpoint.version} is a single checkpoint, "
                         "not a multi-item one: get it without --item")
    entries = store.item_index(args.name, version=checkpoint.version)["items"]
    if args.item not in entries:
        raise UsageError(f"{args.name!r} version {checkpoint.version} has no item "
                         f"{args.item!r}; its items are: {', '.join(sorted(entries))}")
    entry = entries[args.item]
    if not args.output or args.output == "-":
        with tempfile.TemporaryDirectory(prefix="recovery-get-") as tmp:
            path = os.path.join(tmp, "content")
            store.load_item(args.name, args.item, path, version=checkpoint.version)
            copy_to_stdout(ctx, path)
        return EXIT_OK
    directory = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(directory):
        raise UsageError(f"cannot write {args.output!r}: directory {directory!r} does not exist")
    store.load_item(args.name, args.item, args.output, version=checkpoint.version)
    data = {**checkpoint_dict(checkpoint), "item": args.item, "item_size": entry["size"],
            "item_sha256": entry["sha256"], "output": args.output}
    ctx.emit(data, lambda: iter([f"{checkpoint.name} version {checkpoint.version} item "
                                 f"{args.item} ({entry['size']} bytes, {checkpoint.region}) "
                                 f"-> {args.output}"]))
    return EXIT_OK


def copy_to_stdout(ctx: Context, path: str) -> None:
    """Copy a verified temporary file to stdout in chunks (memory stays bounded)."""
    out = ctx.stdout
    out.flush()
    with open(path, "rb") as src:
        shutil.copyfileobj(src, out.buffer, _COPY_CHUNK)
    out.buffer.flush()
