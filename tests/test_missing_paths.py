"""A path the model lacks raises one typed error from both backends; evaluations over several
paths skip it for ``.pt`` and ``.bkws`` alike (it used to depend on the error's wording)."""

from __future__ import annotations

import pytest

from bifsmn.detect.scorer import load_scorer, scorers_for_blocks
from bifsmn.engine import Engine, export_checkpoint
from bifsmn.engine.testing import make_checkpoint
from bifsmn.errors import MissingPath


def test_missing_path_is_one_error_type_for_pt_and_bkws(tmp_path):
    teacher = make_checkpoint(tmp_path / "t.pt", "dfsmn_teacher", seed=0)
    student = make_checkpoint(tmp_path / "s.pt", "bifsmnv2", seed=0)
    only8 = export_checkpoint(student, tmp_path / "s8.bkws", blocks=8)
    with pytest.raises(MissingPath, match="4 blocks"):
        load_scorer(teacher, 4)
    with pytest.raises(MissingPath, match="4 blocks not in this file"):
        load_scorer(only8, 4)
    with pytest.raises(MissingPath):
        Engine(only8, blocks=2)
    for model in (teacher, only8):
        lines: list[str] = []
        got = [b for b, _ in scorers_for_blocks(model, [8, 4], lines.append)]
        assert got == [8] and len(lines) == 1 and lines[0].startswith("skipped:")
    with pytest.raises(MissingPath):  # one path asked for: no silent skip
        list(scorers_for_blocks(only8, [4]))


def test_eval_stream_skips_a_missing_path_of_a_bkws(full_ds, tmp_path):
    from bifsmn.detect.evaluate import eval_stream

    student = make_checkpoint(tmp_path / "s.pt", "bifsmnv2", seed=1)
    only8 = export_checkpoint(student, tmp_path / "s8.bkws", blocks=8)
    results = eval_stream(full_ds, [str(only8)], blocks=[8, 4], minutes=0.5, snrs=[float("inf")],
                          seed=0, out=tmp_path / "out", log=lambda *_: None)
    assert {r.blocks for r in results} == {8}


@pytest.mark.parametrize("kind", ["pt", "bkws"])
def test_eval_stream_cli_skips_a_missing_path_for_pt_and_bkws(full_ds, tmp_path, capsys, kind):
    """`bifsmn eval-stream --model m --blocks 8 4` on a model with only the 8-block path
    (a one-path teacher checkpoint, an 8-block-only export) evaluates 8 blocks and skips 4:
    exit 0 for both backends (it used to exit 2 for .bkws, by the error's wording)."""
    from bifsmn.cli import main

    if kind == "pt":
        model = make_checkpoint(tmp_path / "t.pt", "dfsmn_teacher", seed=2)
    else:
        student = make_checkpoint(tmp_path / "s.pt", "bifsmnv2", seed=2)
        model = export_checkpoint(student, tmp_path / "m8.bkws", blocks=8)
    rc = main(["eval-stream", "--data", str(full_ds), "--model", str(model), "--minutes", "0.5",
               "--snr", "clean", "--split", "training", "--out", str(tmp_path / "out"),
               "--blocks", "8", "4"])
    captured = capsys.readouterr()
    text = captured.out
    assert rc == 0, captured.err
    assert "[8 blocks]" in text and "[4 blocks]" not in text
    assert "skipped:" in captured.err and "4 blocks" in captured.err  # a note: on stderr
