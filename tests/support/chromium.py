"""Headless Chromium for the report tests: the DOM after rendering, and a screenshot.

Debian's ``chromium`` is installed by ``make test`` (the Makefile's ``chromium`` target).
Each call gets its own profile directory, so runs in parallel do not share state.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def executable() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Debian's chromium is installed by `make test` (see the Makefile's chromium target)"
    return found


def dump_dom(page: Path, profile: Path) -> str:
    """The DOM of ``page`` after Chromium rendered it."""
    result = subprocess.run([executable(), *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def screenshot(page: Path, out: Path, profile: Path, size: str = "900,900") -> Path:
    subprocess.run([executable(), *FLAGS, f"--user-data-dir={profile}", f"--screenshot={out}",
                    f"--window-size={size}", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert out.is_file(), f"Chromium wrote no screenshot of {page}"
    return out
