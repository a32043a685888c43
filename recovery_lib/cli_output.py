"""How ``recovery`` commands print: checkpoints as stable JSON objects or aligned tables,
and progress bars for large transfers on a terminal."""
from __future__ import annotations

import contextlib
import datetime
import json
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any

from recovery_lib.cli_context import Context

__all__ = ["PROGRESS_THRESHOLD", "checkpoint_dict", "checkpoint_lines", "checkpoint_rows",
           "format_time", "table", "transfer_progress"]

#: Transfers at least this large get a progress bar when stderr is a terminal.
PROGRESS_THRESHOLD = 4 * 1024 * 1024


def checkpoint_dict(checkpoint: Any) -> dict[str, Any]:
    """A checkpoint as the stable JSON object every command prints."""
    return {
        "name": checkpoint.name,
        "version": checkpoint.version,
        "sha256": checkpoint.sha256,
        "size": checkpoint.size,
        "created_at": format_time(checkpoint.created_at),
        "metadata": dict(checkpoint.metadata or {}),
        "region": checkpoint.region,
    }


def format_time(value: datetime.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(datetime.timezone.utc)
    return value.isoformat()


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> Iterator[str]:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        yield "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()


def checkpoint_rows(checkpoints: Sequence[Any], *, long: bool) -> Callable[[], Iterator[str]]:
    def lines() -> Iterator[str]:
        if not checkpoints:
            return
        header = ("NAME", "VERSION", "CREATED", "REGION")
        rows = [(cp.name, cp.version, format_time(cp.created_at) or "", cp.region)
                for cp in checkpoints]
        if long:
            header += ("SIZE", "SHA256")
            rows = [row + (str(cp.size), (cp.sha256 or "")[:16])
                    for row, cp in zip(rows, checkpoints)]
        yield from table(rows, header)

    return lines


def checkpoint_lines(checkpoint: Any) -> Callable[[], Iterator[str]]:
    def lines() -> Iterator[str]:
        data = checkpoint_dict(checkpoint)
        data["metadata"] = json.dumps(data["metadata"], sort_keys=True)
        width = max(len(key) for key in data) + 1
        for key in ("name", "version", "sha256", "size", "created_at", "region", "metadata"):
            yield f"{key + ':':<{width}} {data[key]}"

    return lines


def stderr_is_terminal(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def transfer_progress(ctx: Context, total: Callable[[], int | None],
              description: str) -> Iterator[dict[str, Any]]:
    """Keyword arguments giving ``save_file``/``load_file`` a tqdm progress callback
    (``progress=``, called with byte counts) drawing on stderr, only when stderr is a
    terminal and the transfer is at least ``PROGRESS_THRESHOLD`` bytes; else none."""
    if not stderr_is_terminal(ctx.stderr):
        yield {}
        return
    size = total()
    if size is None or size < PROGRESS_THRESHOLD:
        yield {}
        return
    from tqdm import tqdm

    with tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024, desc=description,
              file=ctx.stderr, leave=True, dynamic_ncols=True) as bar:
        yield {"progress": bar.update}
