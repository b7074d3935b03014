"""The README's main job, end to end on tiny synthetic data."""

from __future__ import annotations

import pytest

from bifsmn.cli import main


@pytest.mark.slow
def test_quickstart_runs_every_stage(full_ds, tmp_path, capsys):
    out = tmp_path / "qs"
    args = ["quickstart", "--data", str(full_ds), "--out", str(out), "--epochs", "1",
            "--student-epochs", "1"]
    assert main(args) == 0
    text = capsys.readouterr().out
    for stage in ("FP32 teacher", "BiFSMNv2 1-bit student", "export + C++ engine",
                  "benchmark", "detection demo", "1-bit stage alone", "run folder:"):
        assert stage in text, stage
    for f in ("teacher/best.pt", "bifsmnv2/best.pt", "bifsmnv2.bkws", "bench/bench.md",
              "demo.wav"):
        assert (out / f).is_file(), f
    # a second run reuses the finished trainings instead of starting over
    mtime = (out / "bifsmnv2" / "best.pt").stat().st_mtime_ns
    assert main(args) == 0
    assert (out / "bifsmnv2" / "best.pt").stat().st_mtime_ns == mtime
