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

Commands are declared in the ``COMMANDS`` table of :mod:`recovery_lib.cli_commands` (name,
help, arguments, handler); a new
command is one more entry there.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

from recovery_lib.cli_commands import COMMANDS
from recovery_lib.cli_context import (
    ENV_PLATFORM,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Command,
    Context,
    UsageError,
)
from recovery_lib.errors import ConfigError, InvalidData, InvalidName, RecoveryError

__all__ = ["main", "COMMANDS", "Command", "Context", "UsageError"]

#: Library errors that mean the user's input was wrong (exit 2); other RecoveryErrors are
#: operational failures (exit 1).
_USAGE_ERRORS: tuple[type[BaseException], ...] = (InvalidName, ConfigError, InvalidData)


class _ArgumentParser(argparse.ArgumentParser):
    """Raises ``UsageError`` instead of printing the usage block and exiting."""

    def error(self, message: str) -> Any:  # noqa: D401 - argparse API
        raise UsageError(f"{message} (see '{self.prog} --help')")


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
