"""A quick fuzz of the .bkws loader from Python (the long runs: docs/engine.md)."""

from __future__ import annotations

from fuzz_bkws import run_plain


def test_loader_fuzz_quick() -> None:
    runs, loaded = run_plain(3000, seed=1)
    assert runs == 3000 and loaded > 0  # some mutants load and run; none crash
