"""`bifsmn export --max-drop`: the smallest storage whose every path stays within a budget of
the checkpoint's accuracy, every candidate scored against the checkpoint on the same inputs."""

from __future__ import annotations

import pytest

from bifsmn.cli import main
from bifsmn.engine import export_checkpoint
from bifsmn.engine.testing import make_checkpoint
from bifsmn.evaluate import compare_paths
from bifsmn.storage_search import LADDER, smallest_within


def test_the_smallest_file_within_the_budget_is_chosen(full_ds, tmp_path) -> None:
    ckpt = make_checkpoint(tmp_path / "m.pt", "bifsmnv2", seed=5)
    out, chosen, trials = smallest_within(ckpt, tmp_path / "out" / "m.bkws", "all", full_ds, 0.0,
                                          "validation")
    assert [t.label for t in trials] == [label for label, _ in LADDER]
    # each trial is the file its options export, scored as compare_paths scores it alone
    for t in trials:
        f = export_checkpoint(ckpt, tmp_path / "check.bkws", "all", **t.options)
        assert t.bytes == f.stat().st_size
        alone = compare_paths(f, ckpt, full_ds, "validation", progress=False)
        assert {b: r["change_points"] for b, r in alone.items()} == pytest.approx(
            {b: r["change_points"] for b, r in t.rows.items()})
        assert {b: r["changed"] for b, r in alone.items()} == {
            b: r["changed"] for b, r in t.rows.items()}
    within = [t for t in trials if t.worst_change >= 0]
    assert chosen == min(within, key=lambda t: t.bytes)
    assert chosen.label != "--storage small"  # on this model it costs a path a clip
    assert out.read_bytes() == export_checkpoint(ckpt, tmp_path / "again.bkws", "all",
                                                 **chosen.options).read_bytes()
    # a budget every storage meets: the smallest file
    _, loose, _ = smallest_within(ckpt, tmp_path / "loose.bkws", None, full_ds, 100.0)  # None: all
    assert loose.label == "--storage small"


def test_max_drop_cli_and_refusals(full_ds, tmp_path, capsys) -> None:
    ckpt = make_checkpoint(tmp_path / "m.pt", "bifsmnv2", seed=5)
    out = tmp_path / "m.bkws"
    assert main(["export", str(ckpt), "-o", str(out), "--max-drop", "100", "--data",
                 str(full_ds), "--blocks", "8,2"]) == 0
    text = capsys.readouterr().out
    assert "--storage small: the smallest within 100 points" in text
    assert text.count("change per path (blocks 8, 2)") == len(LADDER) and out.is_file()
    refusals = {
        "--max-drop needs --data": ["--max-drop", "0.2"],
        "0 or more points": ["--max-drop", "-1", "--data", str(full_ds)],
        "chooses the storage itself": ["--max-drop", "0.2", "--data", str(full_ds),
                                       "--compact"],
        "give --max-drop POINTS too": ["--data", str(full_ds)],
    }
    for message, opts in refusals.items():
        assert main(["export", str(ckpt), "-o", str(tmp_path / "r.bkws"), *opts]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1
        assert not (tmp_path / "r.bkws").exists()
    # a refused output path fails before any storage is scored (it names the output)
    assert main(["export", str(ckpt), "-o", str(ckpt), "--max-drop", "0.2", "--data",
                 str(tmp_path / "no-such-data")]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    teacher = make_checkpoint(tmp_path / "t.pt", "dfsmn_teacher", seed=1)
    assert main(["export", str(teacher), "-o", str(tmp_path / "t.bkws"), "--max-drop", "0.2",
                 "--data", str(full_ds)]) == 2
    assert "binary models only" in capsys.readouterr().err
