"""``python -m infra.scan [--stack dev|dr ...] [--json OUT] [--exceptions FILE] [--plan-dir DIR]``.

Exit 0 when every finding is kept by the exceptions file and no exception is stale, 1 when
there are new findings or stale exceptions, 2 on bad input (unknown stack, malformed
exceptions file) or when checkov cannot run.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from recovery_lib.errors import RecoveryError

from infra.scan.run import EXCEPTIONS, format_result, known_stacks, scan


def main(argv: Optional[Sequence[str]] = None) -> int:
    stacks = known_stacks()
    parser = argparse.ArgumentParser(prog="python -m infra.scan", description="checkov's rules on the Pulumi program")
    parser.add_argument("--stack", action="append", choices=stacks, help="stack to scan (repeatable; default: all)")
    parser.add_argument("--json", type=Path, help="write the per-stack summary (counts, findings, stale) here")
    parser.add_argument("--exceptions", type=Path, default=EXCEPTIONS, help="exceptions file (default: %(default)s)")
    parser.add_argument("--plan-dir", type=Path, help="keep the translated plan JSON files in this directory")
    parser.add_argument("--checkov", type=Path, help="checkov executable (default: .venv-scan/bin/checkov)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    try:
        result = scan(args.stack or stacks, exceptions=args.exceptions, plan_dir=args.plan_dir, checkov=args.checkov)
    except RecoveryError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(format_result(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result.summary(), indent=2) + "\n")
    print(f"scan {'passed' if result.ok else 'FAILED'} in {time.monotonic() - started:.0f} s")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
