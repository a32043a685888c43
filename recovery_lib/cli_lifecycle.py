"""The lifecycle subcommands (issue 11): ``du``, ``prune`` and ``gc``.

``prune`` retires what a retention policy does not keep (a dry run unless ``--yes``);
``gc`` removes retired versions and unreferenced blobs in both regions (the maintainer
role's job: it needs ``s3:DeleteObject``); ``du`` shows what is live and what is garbage.
See docs/lifecycle.md.
"""
from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

from recovery_lib.cli_context import EXIT_FAILURE, EXIT_OK, Command, Context
from recovery_lib.cli_output import table

__all__ = ["LIFECYCLE_COMMANDS"]


def _configure_du(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prefix", nargs="?", default="", metavar="PREFIX",
                        help="only names starting with PREFIX (default: all)")


def _run_du(ctx: Context) -> int:
    rows = ctx.store.du(ctx.args.prefix)

    def lines() -> Iterator[str]:
        header = ("REGION", "NAME", "LIVE_BYTES", "LIVE_OBJECTS", "GARBAGE_BYTES", "GARBAGE_OBJECTS")
        yield from table([(r["region"], r["name"], str(r["live_bytes"]), str(r["live_objects"]),
                           str(r["garbage_bytes"]), str(r["garbage_objects"])) for r in rows],
                         header)

    ctx.emit(rows, lines if rows else (lambda: iter(["nothing stored under this prefix"])))
    return EXIT_OK


def _configure_prune(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prefix", nargs="?", default="", metavar="PREFIX",
                        help="only names starting with PREFIX (default: all)")
    parser.add_argument("--keep-last", type=int, metavar="N", help="keep the N highest steps")
    parser.add_argument("--keep-every", type=int, metavar="K", help="keep every step divisible by K")
    parser.add_argument("--keep-best", type=int, metavar="M",
                        help="keep the M best steps by --metric (with --mode)")
    parser.add_argument("--metric", metavar="KEY", help="metadata key --keep-best ranks by")
    parser.add_argument("--mode", choices=("min", "max"), default="min",
                        help="min: lower is better (a loss); max: higher is better")
    parser.add_argument("--keep-days", type=float, metavar="D", help="keep versions younger than D days")
    parser.add_argument("--yes", action="store_true",
                        help="really retire (logical, undoable until gc); without it, a dry run")


def _run_prune(ctx: Context) -> int:
    a = ctx.args
    spec: dict[str, Any] = {k: v for k, v in (("keep_last", a.keep_last), ("keep_every", a.keep_every),
                                              ("keep_best", a.keep_best), ("metric", a.metric),
                                              ("keep_days", a.keep_days)) if v is not None}
    spec["mode"] = a.mode
    report = ctx.store.prune(spec, prefix=a.prefix, dry_run=not a.yes)
    retired = [{"name": n, "version": v} for n, v in report.retired]
    verb = "would retire" if report.dry_run else "retired"

    def lines() -> Iterator[str]:
        for item in retired:
            yield f"{verb} {item['name']} {item['version']}"
        yield f"{verb} {len(retired)} version(s) of {len(report.plans)} name(s)" + (
            " (dry run: pass --yes to retire)" if report.dry_run else "")

    ctx.emit({"dry_run": report.dry_run, "retired": retired}, lines)
    return EXIT_OK


def _configure_gc(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="report what would be removed")
    parser.add_argument("--grace", type=float, default=None, metavar="SECONDS",
                        help="leave anything younger than this (default 86400: one day)")


def _run_gc(ctx: Context) -> int:
    report = ctx.store.gc(grace_seconds=ctx.args.grace, dry_run=ctx.args.dry_run)
    regions = {region: {"manifests": len(out.manifests), "blobs": len(out.blobs),
                        "markers": len(out.markers), "bytes": out.bytes, "young": out.young,
                        "delete_requests": out.delete_requests, "restored": list(out.restored),
                        "errors": [f"{key}: {why}" for key, why in out.errors]}
               for region, out in report.regions.items()}
    data = {"dry_run": report.dry_run, "grace_seconds": report.grace_seconds,
            "regions": regions, "problems": list(report.problems)}

    def lines() -> Iterator[str]:
        verb = "would remove" if report.dry_run else "removed"
        for region, r in regions.items():
            yield (f"{region}: {verb} {r['manifests']} manifest(s), {r['blobs']} blob(s), "
                   f"{r['markers']} marker(s), {r['bytes']} bytes; {r['young']} younger than the "
                   f"grace period kept")
            yield from (f"{region}: error: {e}" for e in r["errors"])
        yield from (f"problem: {p}" for p in report.problems)

    ctx.emit(data, lines)
    failed = report.problems or any(r["errors"] for r in regions.values())
    return EXIT_FAILURE if failed else EXIT_OK


LIFECYCLE_COMMANDS: list[Command] = [
    Command("du", "bytes and objects per checkpoint name and region, live against garbage",
            _configure_du, _run_du),
    Command("prune", "retire versions a retention policy does not keep (dry run unless --yes)",
            _configure_prune, _run_prune),
    Command("gc", "remove retired versions and unreferenced blobs in both regions "
            "(maintainer role)", _configure_gc, _run_gc),
]
