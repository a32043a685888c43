"""``python -m benchmarks [--quick] [--only N ...] [--runs N] [--json FILE]`` (``make bench``,
options through ``BENCH_ARGS``). Prints the ratios first, then every figure and the machine."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

from . import (bench_drill, bench_failover, bench_gc, bench_memory, bench_pipeline, bench_scale,
               bench_small, bench_transfer)
from ._common import Result, machine

BENCHMARKS = {
    1: ("256 MiB save_file/load_file vs upload_file/download_file", bench_transfer.run),
    2: ("10,000 small JSON checkpoints vs put_object/get_object", bench_small.run),
    3: ("1,000-stage pipeline status vs HEAD per stage", bench_pipeline.run),
    4: ("primary black-holed: failover load times", bench_failover.run),
    5: ("1 GiB save_file/load_file peak RSS", bench_memory.run),
    6: ("offline drill (make drill)", bench_drill.run),
    7: ("GC of 10,000 versions in both regions (DeleteObjects, 1,000 keys a call)", bench_gc.run),
    8: ("256 MiB save_file_async caller blocked; 8 x 32 MiB sharded save (issue 12)", bench_scale.run),
}


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit in ("requests",):
        return f"{value:.0f}"
    return f"{value:.4g}"


def _met(result: Result) -> str:
    return {True: "met", False: "MISSED", None: "-"}[result.met]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes (64 MiB, 1,000 small checkpoints, 256 MiB for RSS), "
                             "3 runs, no boto3-default give-up measurement: a smoke test")
    parser.add_argument("--only", type=int, action="append", choices=sorted(BENCHMARKS),
                        metavar="N", help="run only benchmark N (repeatable)")
    parser.add_argument("--runs", type=int, default=None, help="runs per measurement (default 5)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    runs = args.runs or (3 if args.quick else 5)
    selected = args.only or sorted(BENCHMARKS)
    results: list[Result] = []
    started = time.perf_counter()
    for number in selected:
        title, fn = BENCHMARKS[number]
        print(f"[{time.strftime('%H:%M:%S')}] benchmark {number}: {title} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        results.extend(fn(runs=runs, quick=args.quick))
        print(f"    done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)

    print("Ratios (library / baseline; lower is better)")
    for r in results:
        if r.ratio is not None:
            print(f"  {r.bench}. {r.metric}: {r.ratio:.3f}  target {r.target}: {_met(r)}")
    print()
    print("| # | measurement | library | baseline | unit | ratio | target | result | notes |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        ratio = "-" if r.ratio is None else f"{r.ratio:.3f}"
        print(f"| {r.bench} | {r.metric} | {_fmt(r.library, r.unit)} | {_fmt(r.baseline, r.unit)} | "
              f"{r.unit} | {ratio} | {r.target} | {_met(r)} | {r.note} |")
    print()
    info = machine()
    print("Machine: " + "; ".join(f"{k} {v}" for k, v in info.items()))
    print(f"Command: python -m benchmarks {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip()
          + f"  (runs={runs}, total {time.perf_counter() - started:.0f} s)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"machine": info, "runs": runs, "quick": args.quick,
                       "results": [dataclasses.asdict(r) for r in results]}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
