"""What a ``recovery`` command handler gets: its ``Context`` (arguments, streams, the store
opened on first use), the ``Command`` record, ``UsageError`` and the exit codes."""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any

from recovery_lib.store import CheckpointStore

__all__ = ["Command", "Context", "ENV_PLATFORM", "EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_OK",
           "EXIT_USAGE", "UsageError", "json_default", "open_store"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

ENV_PLATFORM = "DR_PLATFORM"


class UsageError(Exception):
    """The command line itself is wrong: bad arguments, no store, a refused command."""


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
            self.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=json_default))
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


def json_default(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot print {type(value).__name__} as JSON")
