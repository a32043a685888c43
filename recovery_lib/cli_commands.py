"""The ``recovery`` subcommands: each a ``configure`` (its arguments) and a ``run`` (parse ->
call the library -> print), listed in ``COMMANDS``. A new command is one more entry."""
from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

from recovery_lib import cli_items
from recovery_lib.cli_context import EXIT_FAILURE, EXIT_OK, Command, Context, UsageError
from recovery_lib.cli_lifecycle import LIFECYCLE_COMMANDS
from recovery_lib.cli_output import (
    checkpoint_dict,
    checkpoint_lines,
    checkpoint_rows,
    table,
    transfer_progress,
)
from recovery_lib.drill import command as drill_command

__all__ = ["COMMANDS"]


def _parse_metadata(pairs: Sequence[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    metadata = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"invalid --metadata {pair!r}: use KEY=VALUE")
        metadata[key] = value
    return metadata


def _add_long(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-l", "--long", action="store_true",
                        help="also size, sha256 and metadata (reads each manifest: one more "
                             "request per line; without it, one listing answers)")


def _configure_ls(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prefix", nargs="?", default="", metavar="PREFIX",
                        help="only names starting with PREFIX (default: all)")
    _add_long(parser)


def _run_ls(ctx: Context) -> int:
    checkpoints = ctx.store.list(ctx.args.prefix, detail=ctx.args.long)
    ctx.emit([checkpoint_dict(cp) for cp in checkpoints],
             checkpoint_rows(checkpoints, long=ctx.args.long))
    return EXIT_OK


def _configure_show(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("--version", dest="checkpoint_version", metavar="V",
                        help="a specific version (default: the current one)")


def _run_show(ctx: Context) -> int:
    checkpoint = ctx.store.info(ctx.args.name, version=ctx.args.checkpoint_version)
    if checkpoint.serializer == "items":  # multi-item: list its items too
        data, items = cli_items.show_items(ctx, checkpoint)
        ctx.emit(data, lambda: iter([*checkpoint_lines(checkpoint)(), *items()]))
        return EXIT_OK
    ctx.emit(checkpoint_dict(checkpoint), checkpoint_lines(checkpoint))
    return EXIT_OK


def _configure_history(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME")
    _add_long(parser)


def _run_history(ctx: Context) -> int:
    versions = ctx.store.versions(ctx.args.name, detail=ctx.args.long)
    ctx.emit([checkpoint_dict(cp) for cp in versions],
             checkpoint_rows(versions, long=ctx.args.long))
    return EXIT_OK


def _configure_get(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write the content to FILE (default: raw bytes to stdout)")
    parser.add_argument("--version", dest="checkpoint_version", metavar="V",
                        help="a specific version (default: the current one)")
    parser.add_argument("--step", type=int, metavar="N",
                        help="the newest version saved with step N")
    cli_items.add_item_option(parser)


def _run_get(ctx: Context) -> int:
    store, args = ctx.store, ctx.args
    if args.step is not None:
        if args.checkpoint_version:
            raise UsageError("pass --version or --step, not both")
        args.checkpoint_version = store.version_of_step(args.name, args.step)
    if args.item is not None:
        return cli_items.get_item(ctx, args.checkpoint_version)
    size = lambda: store.info(args.name, version=args.checkpoint_version).size  # noqa: E731
    if args.output and args.output != "-":
        directory = os.path.dirname(os.path.abspath(args.output))
        if not os.path.isdir(directory):
            raise UsageError(f"cannot write {args.output!r}: directory {directory!r} does not exist")
        with transfer_progress(ctx, size, args.name) as progress:
            checkpoint = store.load_file(args.name, args.output,
                                         version=args.checkpoint_version, **progress)
        ctx.emit(checkpoint_dict(checkpoint),
                 lambda: iter([f"{checkpoint.name} version {checkpoint.version} "
                               f"({checkpoint.size} bytes, {checkpoint.region}) -> {args.output}"]))
        return EXIT_OK
    # To stdout: only verified bytes may leave, so download (and verify) into a private
    # temporary file first, then copy it out in chunks. Memory stays bounded.
    with tempfile.TemporaryDirectory(prefix="recovery-get-") as tmp:
        path = os.path.join(tmp, "content")
        with transfer_progress(ctx, size, args.name) as progress:
            store.load_file(args.name, path, version=args.checkpoint_version, **progress)
        cli_items.copy_to_stdout(ctx, path)
    return EXIT_OK


def _configure_put(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("file", metavar="FILE", help="the file to store (streamed)")
    parser.add_argument("-m", "--metadata", action="append", metavar="KEY=VALUE",
                        help="metadata to record with the checkpoint (repeatable)")
    parser.add_argument("--step", type=int, metavar="N",
                        help="the step this checkpoint is (a training step), stored with it")


def _run_put(ctx: Context) -> int:
    args = ctx.args
    metadata = _parse_metadata(args.metadata)
    if not os.path.isfile(args.file):
        raise UsageError(f"no such file: {args.file!r} (put stores a regular file)")
    store = ctx.store
    with transfer_progress(ctx, lambda: os.path.getsize(args.file), args.name) as progress:
        checkpoint = store.save_file(args.name, args.file, metadata=metadata, step=args.step,
                                     **progress)
    ctx.emit(checkpoint_dict(checkpoint), checkpoint_lines(checkpoint))
    return EXIT_OK


def _configure_rollback(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("version", metavar="VERSION",
                        help="the version to make current again (see 'history')")


def _run_rollback(ctx: Context) -> int:
    checkpoint = ctx.store.rollback(ctx.args.name, ctx.args.version)
    ctx.emit(checkpoint_dict(checkpoint), checkpoint_lines(checkpoint))
    return EXIT_OK


def _configure_verify(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prefix", nargs="?", default="", metavar="PREFIX",
                        help="only names starting with PREFIX (default: all)")
    parser.add_argument("--shallow", action="store_true",
                        help="check content in the secondary by size (HEAD) instead of "
                             "reading and hashing it")


def _run_verify(ctx: Context) -> int:
    statuses = ctx.store.replication_report(ctx.args.prefix, deep=not ctx.args.shallow)
    not_safe = [_status_dict(status) for status in statuses if not status.dr_safe]
    report = {
        "prefix": ctx.args.prefix,
        "checked": len(statuses),
        "dr_safe": len(statuses) - len(not_safe),
        "not_dr_safe": not_safe,
    }

    def lines() -> Iterator[str]:
        if not_safe:
            rows = [(item["name"], item["version"] or "-", item["restorable_version"] or "-",
                     item["reason"]) for item in not_safe]
            yield from table(rows, ("NOT DR-SAFE", "VERSION", "SECONDARY HAS", "REASON"))
        yield (f"{report['checked']} checkpoints checked: {report['dr_safe']} DR-safe, "
               f"{len(not_safe)} not DR-safe")

    ctx.emit(report, lines)
    return EXIT_FAILURE if not_safe else EXIT_OK


def _status_dict(status: Any) -> dict[str, Any]:
    """A replication status as the stable JSON object ``verify`` prints."""
    return {
        "name": status.name,
        "version": status.primary_version,
        "dr_safe": bool(status.dr_safe),
        "restorable_version": status.restorable.version if status.restorable else None,
        "missing": list(status.missing),
        "pending": list(status.pending),
        "lag_seconds": status.lag_seconds,
        "primary_reachable": status.primary_reachable,
        "secondary_only": list(getattr(status, "secondary_only", ())),
        "reason": _status_reason(status),
    }


def _status_reason(status: Any) -> str:
    if not status.primary_reachable:
        return "primary region unreachable: cannot tell whether the current version replicated"
    if status.primary_version is None:
        return "deleted in the primary region; the deletion has not reached the secondary yet"
    if getattr(status, "secondary_only", ()) and status.missing and "reconcile" in status.missing[-1]:
        return status.missing[-1]
    if status.missing:
        return f"missing or not verifying in the secondary: {', '.join(status.missing)}"
    return "not yet replicated to the secondary"


def _configure_clear(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prefix", metavar="PREFIX",
                        help="delete (logically) every checkpoint whose name starts with PREFIX")
    parser.add_argument("--yes", action="store_true",
                        help="really clear; without it the command refuses and exits 2")


def _run_clear(ctx: Context) -> int:
    prefix = ctx.args.prefix
    if not ctx.args.yes:
        raise UsageError(
            f"refusing to clear every checkpoint under {prefix!r} without --yes "
            f"(see what it holds with 'recovery ls {prefix}')"
        )
    count = ctx.store.clear(prefix)
    ctx.emit({"prefix": prefix, "cleared": count},
             lambda: iter([f"cleared {count} checkpoint(s) under {prefix!r}"]))
    return EXIT_OK


def _configure_reconcile(parser: argparse.ArgumentParser) -> None:
    del parser  # no arguments: the whole store


def _run_reconcile(ctx: Context) -> int:
    actions = ctx.store.reconcile()
    ctx.emit({"actions": actions},
             lambda: iter(actions or ["nothing to reconcile: no commits only in the secondary"]))
    return EXIT_OK


#: The subcommands, in the order ``--help`` lists them. A new command is a new entry.
COMMANDS: list[Command] = [
    Command("ls", "list the current version of each checkpoint", _configure_ls, _run_ls),
    Command("show", "show one checkpoint's details", _configure_show, _run_show),
    Command("history", "list every version of a checkpoint, newest first",
            _configure_history, _run_history),
    Command("get", "fetch a checkpoint's content (verified) to a file or stdout",
            _configure_get, _run_get),
    Command("put", "store a file as a new checkpoint version", _configure_put, _run_put),
    Command("rollback", "make an older version current again (as a new version)",
            _configure_rollback, _run_rollback),
    Command("verify", "list checkpoints not yet DR-safe in the secondary region; "
            "exit 1 if any", _configure_verify, _run_verify),
    Command("reconcile", "bring checkpoints saved in the secondary during an outage back "
            "into the primary", _configure_reconcile, _run_reconcile),
    Command("clear", "logically delete every checkpoint under a prefix (needs --yes)",
            _configure_clear, _run_clear),
    Command("drill", "rehearse a regional failover and measure RTO and RPO "
            "(injects faults: needs --yes or a confirmation)", drill_command.configure, drill_command.run),
    *LIFECYCLE_COMMANDS,  # du, prune, gc (recovery_lib/cli_lifecycle.py)
]
