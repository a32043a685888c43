"""The ``recovery`` command line: inspect, fetch, store, roll back and verify checkpoints.

Each command goes parse → open the store → call the library → print; a ``RecoveryError``
is caught and printed as one line ``ErrorType: message`` on stderr, never a traceback.

The store comes from, in this order: ``--platform FILE`` (a platform descriptor),
``--store URL`` (``memory://``, ``file://PATH``, ``s3://BUCKET/PREFIX``), or the
``DR_PLATFORM`` environment variable naming a descriptor file.

Exit codes:

====  ===================================================================================
0     success (``verify``: every checkpoint under the prefix is DR-safe)
1     operational failure: checkpoint or version not found, integrity failure, region
      unavailable, any other ``RecoveryError`` or OS error while transferring;
      ``verify`` also exits 1 when at least one checkpoint is not DR-safe yet
2     bad usage or input: unknown command or option, invalid name, no store given,
      malformed or unreadable descriptor, bad URL (``ConfigError``), refused data, a
      missing input file or output directory, ``clear`` without ``--yes``, ``verify``
      on a store without a secondary region (``ConfigError``)
130   interrupted (Ctrl-C)
====  ===================================================================================

``--json`` prints machine-readable output with stable, sorted keys. A checkpoint is
``{"created_at", "metadata", "name", "region", "sha256", "size", "version"}``
(``created_at`` in ISO 8601 UTC).

Commands are declared in the ``COMMANDS`` table (name, help, arguments, handler); a new
command is one more entry there.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO, Any

from recovery_lib.drill import command as drill_command
from recovery_lib.errors import ConfigError, InvalidData, InvalidName, RecoveryError
from recovery_lib.store import CheckpointStore

__all__ = ["main", "COMMANDS", "Command", "Context", "UsageError"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

ENV_PLATFORM = "DR_PLATFORM"
#: Transfers at least this large get a progress bar when stderr is a terminal.
PROGRESS_THRESHOLD = 4 * 1024 * 1024
_COPY_CHUNK = 1024 * 1024

#: Library errors that mean the user's input was wrong (exit 2); other RecoveryErrors are
#: operational failures (exit 1).
_USAGE_ERRORS: tuple[type[BaseException], ...] = (InvalidName, ConfigError, InvalidData)


class UsageError(Exception):
    """The command line itself is wrong: bad arguments, no store, a refused command."""


class _ArgumentParser(argparse.ArgumentParser):
    """Raises ``UsageError`` instead of printing the usage block and exiting."""

    def error(self, message: str) -> Any:  # noqa: D401 - argparse API
        raise UsageError(f"{message} (see '{self.prog} --help')")


@dataclasses.dataclass
class Context:
    """What a command handler gets: its parsed arguments, the streams and the store."""

    args: argparse.Namespace
    stdout: IO[str]
    stderr: IO[str]
    environ: Mapping[str, str]
    _store: CheckpointStore | None = None

    @property
    def store(self) -> CheckpointStore:
        """The checkpoint store, opened on first use (commands that need none never pay)."""
        if self._store is None:
            self._store = open_store(self.args, self.environ)
        return self._store

    def emit(self, data: Any, text: Callable[[], Iterator[str]] | None = None) -> None:
        """Print ``data`` as JSON with ``--json``, else the lines ``text()`` yields."""
        if self.args.json or text is None:
            self.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=_json_default))
            self.stdout.write("\n")
        else:
            for line in text():
                self.stdout.write(line + "\n")


@dataclasses.dataclass(frozen=True)
class Command:
    """One subcommand: ``configure`` adds its arguments, ``run`` returns the exit code."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[Context], int]


# -- store ----------------------------------------------------------------------------------


def open_store(args: argparse.Namespace, environ: Mapping[str, str]) -> CheckpointStore:
    """The store named by ``--platform``, else ``--store``, else ``$DR_PLATFORM``.
    A descriptor that cannot be read or parsed raises ConfigError (exit 2)."""
    if args.platform:
        return CheckpointStore.from_platform(args.platform)
    if args.store:
        return CheckpointStore.from_url(args.store)
    if environ.get(ENV_PLATFORM):
        return CheckpointStore.from_platform(environ[ENV_PLATFORM])
    raise UsageError(
        "no checkpoint store given: pass --platform FILE (a platform descriptor), "
        "--store URL (memory://, file://PATH or s3://BUCKET/PREFIX), "
        f"or set {ENV_PLATFORM} to a platform descriptor file"
    )


# -- output helpers ---------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot print {type(value).__name__} as JSON")


def checkpoint_dict(checkpoint: Any) -> dict[str, Any]:
    """A checkpoint as the stable JSON object every command prints."""
    return {
        "name": checkpoint.name,
        "version": checkpoint.version,
        "sha256": checkpoint.sha256,
        "size": checkpoint.size,
        "created_at": _format_time(checkpoint.created_at),
        "metadata": dict(checkpoint.metadata or {}),
        "region": checkpoint.region,
    }


def _format_time(value: datetime.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(datetime.timezone.utc)
    return value.isoformat()


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> Iterator[str]:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        yield "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()


def _checkpoint_rows(checkpoints: Sequence[Any], *, long: bool) -> Callable[[], Iterator[str]]:
    def lines() -> Iterator[str]:
        if not checkpoints:
            return
        header = ("NAME", "VERSION", "CREATED", "REGION")
        rows = [(cp.name, cp.version, _format_time(cp.created_at) or "", cp.region)
                for cp in checkpoints]
        if long:
            header += ("SIZE", "SHA256")
            rows = [row + (str(cp.size), (cp.sha256 or "")[:16])
                    for row, cp in zip(rows, checkpoints)]
        yield from _table(rows, header)

    return lines


def _checkpoint_lines(checkpoint: Any) -> Callable[[], Iterator[str]]:
    def lines() -> Iterator[str]:
        data = checkpoint_dict(checkpoint)
        data["metadata"] = json.dumps(data["metadata"], sort_keys=True)
        width = max(len(key) for key in data) + 1
        for key in ("name", "version", "sha256", "size", "created_at", "region", "metadata"):
            yield f"{key + ':':<{width}} {data[key]}"

    return lines


def _stderr_is_terminal(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def _progress(ctx: Context, total: Callable[[], int | None],
              description: str) -> Iterator[dict[str, Any]]:
    """Keyword arguments giving ``save_file``/``load_file`` a tqdm progress callback
    (``progress=``, called with byte counts) drawing on stderr, only when stderr is a
    terminal and the transfer is at least ``PROGRESS_THRESHOLD`` bytes; else none."""
    if not _stderr_is_terminal(ctx.stderr):
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


# -- commands ---------------------------------------------------------------------------------


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
             _checkpoint_rows(checkpoints, long=ctx.args.long))
    return EXIT_OK


def _configure_show(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("--version", dest="checkpoint_version", metavar="V",
                        help="a specific version (default: the current one)")


def _run_show(ctx: Context) -> int:
    checkpoint = ctx.store.info(ctx.args.name, version=ctx.args.checkpoint_version)
    ctx.emit(checkpoint_dict(checkpoint), _checkpoint_lines(checkpoint))
    return EXIT_OK


def _configure_history(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME")
    _add_long(parser)


def _run_history(ctx: Context) -> int:
    versions = ctx.store.versions(ctx.args.name, detail=ctx.args.long)
    ctx.emit([checkpoint_dict(cp) for cp in versions],
             _checkpoint_rows(versions, long=ctx.args.long))
    return EXIT_OK


def _configure_get(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write the content to FILE (default: raw bytes to stdout)")
    parser.add_argument("--version", dest="checkpoint_version", metavar="V",
                        help="a specific version (default: the current one)")


def _run_get(ctx: Context) -> int:
    store, args = ctx.store, ctx.args
    size = lambda: store.info(args.name, version=args.checkpoint_version).size  # noqa: E731
    if args.output and args.output != "-":
        directory = os.path.dirname(os.path.abspath(args.output))
        if not os.path.isdir(directory):
            raise UsageError(f"cannot write {args.output!r}: directory {directory!r} does not exist")
        with _progress(ctx, size, args.name) as progress:
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
        with _progress(ctx, size, args.name) as progress:
            store.load_file(args.name, path, version=args.checkpoint_version, **progress)
        out = ctx.stdout
        out.flush()
        with open(path, "rb") as src:
            shutil.copyfileobj(src, out.buffer, _COPY_CHUNK)
        out.buffer.flush()
    return EXIT_OK


def _configure_put(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("file", metavar="FILE", help="the file to store (streamed)")
    parser.add_argument("-m", "--metadata", action="append", metavar="KEY=VALUE",
                        help="metadata to record with the checkpoint (repeatable)")


def _run_put(ctx: Context) -> int:
    args = ctx.args
    metadata = _parse_metadata(args.metadata)
    if not os.path.isfile(args.file):
        raise UsageError(f"no such file: {args.file!r} (put stores a regular file)")
    store = ctx.store
    with _progress(ctx, lambda: os.path.getsize(args.file), args.name) as progress:
        checkpoint = store.save_file(args.name, args.file, metadata=metadata, **progress)
    ctx.emit(checkpoint_dict(checkpoint), _checkpoint_lines(checkpoint))
    return EXIT_OK


def _configure_rollback(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("version", metavar="VERSION",
                        help="the version to make current again (see 'history')")


def _run_rollback(ctx: Context) -> int:
    checkpoint = ctx.store.rollback(ctx.args.name, ctx.args.version)
    ctx.emit(checkpoint_dict(checkpoint), _checkpoint_lines(checkpoint))
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
            yield from _table(rows, ("NOT DR-SAFE", "VERSION", "SECONDARY HAS", "REASON"))
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
]


# -- parsing and main -------------------------------------------------------------------------


def _add_global_options(parser: argparse.ArgumentParser, *, on_subcommand: bool) -> None:
    # On subcommands the defaults are SUPPRESS so that an option given before the
    # subcommand is not overwritten by the subcommand's default.
    def default(value: Any) -> Any:
        return argparse.SUPPRESS if on_subcommand else value

    group = parser.add_argument_group("store and output")
    group.add_argument("--platform", metavar="FILE", default=default(None),
                       help="platform descriptor JSON (pulumi stack output platform --json)")
    group.add_argument("--store", metavar="URL", default=default(None),
                       help="memory://, file://PATH or s3://BUCKET/PREFIX")
    group.add_argument("--json", action="store_true", default=default(False),
                       help="machine-readable JSON output")
    group.add_argument("-v", "--verbose", action="count", default=default(0),
                       help="log library events to stderr (-v info, -vv debug)")


def build_parser(commands: Sequence[Command] = ()) -> argparse.ArgumentParser:
    parser = _ArgumentParser(
        prog="recovery",
        description="Inspect, fetch, store and verify replicated checkpoints.",
        epilog=f"The store comes from --platform, else --store, else ${ENV_PLATFORM}. "
               "Exit codes: 0 ok, 1 operational failure, 2 bad usage or input.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_package_version()}")
    _add_global_options(parser, on_subcommand=False)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in commands or COMMANDS:
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.configure(sub)
        _add_global_options(sub, on_subcommand=True)
        sub.set_defaults(handler=command.run)
    return parser


def _package_version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover - Python < 3.8
        return "unknown"
    try:
        return version("dr-platform")
    except PackageNotFoundError:
        return "unknown"


@contextlib.contextmanager
def _log_to(stream: IO[str], verbosity: int) -> Iterator[None]:
    """Send recovery_lib's log records to ``stream`` for the duration of one command."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.setLevel(level)
    library = logging.getLogger("recovery_lib")
    previous = library.level
    library.addHandler(handler)
    if library.level == logging.NOTSET or library.level > level:
        library.setLevel(level)
    try:
        yield
    finally:
        library.removeHandler(handler)
        library.setLevel(previous)


def _error_line(exc: BaseException) -> str:
    message = str(exc)
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        message = exc.args[0]  # KeyError.__str__ would wrap the message in quotes
    message = " ".join(message.split())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def exit_code(exc: BaseException) -> int:
    """The exit code for an error a command raised."""
    if isinstance(exc, (UsageError, *_USAGE_ERRORS)):
        return EXIT_USAGE
    return EXIT_FAILURE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``recovery`` command line; returns the exit code."""
    stdout, stderr = sys.stdout, sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        stderr.write(_error_line(exc) + "\n")
        return EXIT_USAGE
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    ctx = Context(args=args, stdout=stdout, stderr=stderr, environ=os.environ)
    try:
        with _log_to(stderr, args.verbose):
            return args.handler(ctx)
    except (RecoveryError, UsageError, OSError) as exc:
        if isinstance(exc, BrokenPipeError):
            _silence_stdout()
            return EXIT_FAILURE
        stderr.write(_error_line(exc) + "\n")
        return exit_code(exc)
    except KeyboardInterrupt:
        stderr.write("Interrupted\n")
        return EXIT_INTERRUPTED


def _silence_stdout() -> None:
    """After the reader of stdout went away, keep Python's exit-time flush from failing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        # stdout has no file descriptor (captured or replaced): nothing will flush to a
        # closed pipe at exit, so there is nothing to silence.
        return


if __name__ == "__main__":  # pragma: no cover - `python -m recovery_lib.cli`
    sys.exit(main())
