"""The code passes ``ruff`` (the configuration in pyproject.toml) as part of the test suite.

Why a test and not a separate CI step: CI runs README's test command and nothing else, so a
lint error that only a separate step would catch slipped through once (an over-long line in
session 10). ruff is in the ``test`` extra, so a missing install fails here, not silently.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: what the project lints: the package, its tests, the result scripts under docs, C++ tools.
PATHS = ["src", "tests", "docs", "cpp/tools"]


def test_ruff_clean() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", *PATHS],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, (
        f"ruff check {' '.join(PATHS)} failed (pip install -e '.[test]' installs ruff):\n"
        f"{proc.stdout}{proc.stderr}"
    )
