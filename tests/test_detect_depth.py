"""Detection with models of a depth other than the paper's 8 layers.

Why: the trainer builds any ``num_layers`` and the engine runs it, but the detection commands
used to accept only 8 / 4 / 2 / 1 blocks and the verifier always ran 8 blocks, so a 12-layer
model could be trained and exported but not detected with.
"""
from __future__ import annotations

import argparse

import numpy as np
import pytest

from bifsmn.blocks import cli_count
from bifsmn.errors import BifsmnError, MissingPath


@pytest.mark.parametrize("text, want", [("12", 12), ("8", 8), (" 3 ", 3), ("1", 1)])
def test_cli_count_takes_any_positive_whole_number(text, want):
    assert cli_count(text) == want


@pytest.mark.parametrize("text", ["0", "-4", "x", "2.5", ""])
def test_cli_count_refuses_what_names_no_path(text):
    with pytest.raises(argparse.ArgumentTypeError, match="positive whole number"):
        cli_count(text)


@pytest.fixture(scope="module")
def deep_teacher(tmp_path_factory):
    """A random 12-layer FP teacher as checkpoint and as .bkws (one path: 12 blocks)."""
    pytest.importorskip("bifsmn.engine._engine")
    from bifsmn.engine import export_checkpoint
    from bifsmn.engine.testing import make_checkpoint

    root = tmp_path_factory.mktemp("deep")
    pt = make_checkpoint(root / "t12.pt", kind="dfsmn_teacher", num_layers=12)
    bkws = root / "t12.bkws"
    export_checkpoint(pt, bkws)
    return pt, bkws


@pytest.mark.parametrize("which", [0, 1], ids=["checkpoint", "bkws"])
def test_a_verifier_runs_all_of_its_blocks(deep_teacher, which):
    from bifsmn.detect.cascade import Verifier

    assert Verifier.load(deep_teacher[which]).scorer.blocks == 12


@pytest.mark.parametrize("which", [0, 1], ids=["checkpoint", "bkws"])
def test_a_path_the_model_lacks_is_refused_when_it_is_loaded(deep_teacher, which):
    from bifsmn.detect.scorer import load_scorer

    assert load_scorer(deep_teacher[which], 12).blocks == 12
    with pytest.raises((MissingPath, BifsmnError), match="8"):
        load_scorer(deep_teacher[which], 8)
    with pytest.raises(BifsmnError, match="positive whole number"):
        load_scorer(deep_teacher[which], 0)


def test_detect_runs_a_12_layer_model_from_the_command_line(deep_teacher, tmp_path, capsys):
    import soundfile as sf

    from bifsmn.cli import main

    wav = tmp_path / "tone.wav"
    t = np.arange(24000) / 16000
    sf.write(wav, (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    args = ["detect", str(wav), "--model", str(deep_teacher[1]), "--threshold", "0.9"]
    assert main([*args, "--blocks", "12"]) == 0
    assert "1 file" in capsys.readouterr().err
    assert main([*args, "--blocks", "8"]) != 0
    assert "8 blocks not in this file" in capsys.readouterr().err
