"""Benchmark 6: the offline drill. Wall time of ``make drill`` (the venv already set up)
and the emulated RTO/RPO from its journal. Needs the sandbox (``infra/sandbox/``); without a
``drill`` recipe in the Makefile this reports it as not measured. The journal is the newest
``reports/**/journal.json`` written during the run; RTO/RPO are in emulated seconds (the
sandbox runs its clock ``time_scale`` times faster than the wall clock)."""
from __future__ import annotations

import glob
import json
import os
import subprocess
import time

from ._common import Result

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _has_recipe() -> bool:
    probe = subprocess.run(["make", "-n", "drill"], cwd=ROOT, capture_output=True, text=True)
    return probe.returncode == 0 and bool(probe.stdout.strip()) and "Nothing to be done" not in probe.stdout


def run(*, runs: int, quick: bool) -> list[Result]:
    if not _has_recipe():
        return [Result(6, "make drill: wall time, emulated RTO/RPO", None, None, "s", "(reported)",
                       None, note="NOT MEASURED: the Makefile has no drill recipe yet (sandbox pending)")]
    started = time.time()
    wall = time.perf_counter()
    proc = subprocess.run(["make", "drill"], cwd=ROOT, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - wall
    journals = [p for p in glob.glob(os.path.join(ROOT, "reports", "**", "journal.json"), recursive=True)
                if os.path.getmtime(p) >= started]
    note = f"exit {proc.returncode}"
    rto = rpo = None
    if journals:
        with open(max(journals, key=os.path.getmtime)) as fh:
            journal = json.load(fh)
        measurements = journal.get("measurements", {})
        rto, rpo = measurements.get("rto_seconds"), measurements.get("rpo_seconds")
        note += (f"; status {journal.get('status')}, verdict {measurements.get('verdict')}, "
                 f"time scale {measurements.get('time_scale')} ({measurements.get('time_unit')}); "
                 f"journal {os.path.relpath(max(journals, key=os.path.getmtime), ROOT)}")
    return [Result(6, "make drill: wall time", wall, None, "s", "(reported)", None, note=note),
            Result(6, "make drill: RTO (emulated seconds)", rto, None, "s", "(reported)", None),
            Result(6, "make drill: RPO (emulated seconds)", rpo, None, "s", "(reported)", None)]
