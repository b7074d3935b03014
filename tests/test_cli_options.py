"""Documented command-line options exist with their documented defaults (parsed through the
real ``bifsmn`` parser, nothing run), and the cheap ones reach what they set."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bifsmn.cli import build_parser, main


@pytest.fixture(scope="module")
def parser():
    return build_parser()


def test_detect_option_defaults_and_values(parser):
    args = parser.parse_args(["detect", "a.wav"])
    assert args.smooth_for is None and args.refractory_for is None
    assert args.gate_flat_max is None and args.gate_band_contrast_db is None
    args = parser.parse_args(["detect", "a.wav", "--smooth-for", "yes=300", "--smooth-for",
                              "no=200", "--refractory-for", "go=2000", "--gate-flat-max",
                              "0.35", "--gate-band-contrast-db", "7"])
    assert args.smooth_for == ["yes=300", "no=200"] and args.refractory_for == ["go=2000"]
    assert args.gate_flat_max == 0.35 and args.gate_band_contrast_db == 7.0


def test_gate_flags_set_the_default_gate(parser):
    from bifsmn.detect.cli import _gate
    from bifsmn.detect.gate import DEFAULT_GATE, MODEL_GATE

    for command in (["detect", "a.wav"], ["calibrate", "m.pt", "--data", "d"],
                    ["eval-stream", "--data", "d"]):
        assert _gate(parser.parse_args(command)) is MODEL_GATE  # no flag: the model's gate
        args = parser.parse_args([*command, "--gate-flat-max", "0.35",
                                  "--gate-band-contrast-db", "7"])
        assert _gate(args) == replace(DEFAULT_GATE, flat_max=0.35, band_contrast_db=7.0)
        assert _gate(args) != DEFAULT_GATE
        assert _gate(parser.parse_args([*command, "--no-gate"])) is None


def test_calibrate_option_defaults_and_choices(parser, capsys):
    args = parser.parse_args(["calibrate", "m.pt", "--data", "d"])
    assert args.rule == "pooled" and args.confidence == 0.9
    assert args.drop_other_verifiers is False and args.hold_ms is None
    assert args.negatives_split == "validation" and args.seed == 1000
    args = parser.parse_args(["calibrate", "m.pt", "--data", "d", "--rule", "shared",
                              "--confidence", "0", "--drop-other-verifiers", "--hold-ms", "600"])
    assert args.rule == "shared" and args.confidence == 0.0
    assert args.drop_other_verifiers is True and args.hold_ms == 600.0
    for rule in ("keyword", "pooled"):
        assert parser.parse_args(["calibrate", "m.pt", "--data", "d", "--rule", rule]).rule == rule
    with pytest.raises(SystemExit):
        parser.parse_args(["calibrate", "m.pt", "--data", "d", "--rule", "median"])
    assert "invalid choice: 'median'" in capsys.readouterr().err


def test_eval_stream_option_defaults_and_choices(parser, capsys):
    args = parser.parse_args(["eval-stream", "--data", "d"])
    assert args.fa_target == [0.5, 1.0] and args.tolerance_ms == 500.0
    assert args.negatives_split == "testing" and args.seed == 0
    args = parser.parse_args(["eval-stream", "--data", "d", "--fa-target", "2", "--tolerance-ms",
                              "250", "--negatives-split", "validation", "--seed", "7"])
    assert args.fa_target == [2.0] and args.tolerance_ms == 250.0
    assert args.negatives_split == "validation" and args.seed == 7
    with pytest.raises(SystemExit):
        parser.parse_args(["eval-stream", "--data", "d", "--negatives-split", "all"])
    assert "invalid choice: 'all'" in capsys.readouterr().err


def test_summary_list_names_the_registered_models(capsys):
    from bifsmn.models import list_models

    assert main(["summary", "--list"]) == 0
    out = capsys.readouterr().out.split()
    assert out == list_models() and {"dfsmn_teacher", "dfsmn_thinnable"} <= set(out)


def test_calibrate_takes_its_model_as_an_argument_or_as_model(parser, capsys):
    assert parser.parse_args(["calibrate", "m.pt", "--data", "d"]).model == "m.pt"
    assert parser.parse_args(["calibrate", "--model", "m.pt", "--data", "d"]).model_opt == "m.pt"
    for args in (["calibrate", "--data", "d"],
                 ["calibrate", "m.pt", "--model", "m.pt", "--data", "d"]):
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("bifsmn: error: calibrate takes one model") and "\n" not in err


def test_careless_inputs_get_one_line_errors(tmp_path, capsys):
    """From a report-only audit of every subcommand (session 46): an empty config file had
    trained a 300-epoch default teacher, `compare --epochs 0` had written a table of NaN, and
    `data cache --dir` on a typo had reported "0 entries"; each is now one line, exit 2."""
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    cases = [
        (["train", "--config", str(empty), "--data", str(tmp_path), "--out",
          str(tmp_path / "run")], "config file is empty"),
        (["compare", "--data", str(tmp_path), "--teacher", str(tmp_path / "t.pt"), "--epochs",
          "0", "--out", str(tmp_path / "cmp")], "train.epochs must be at least 1"),
        (["data", "cache", "--dir", str(tmp_path / "nope")], "no such folder"),
        (["data", "cache", "--dir", str(empty), "--clear"], "not a folder"),
    ]
    for argv, msg in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and msg in err[0], (argv, err)
    assert not (tmp_path / "run").exists() and not (tmp_path / "cmp").exists()
    assert empty.is_file()


def test_split_choices_and_export_out_spelling(parser, capsys):
    """eval-stream and calibrate take --split from the same choices as eval (a typo is an
    argparse error, not a tuple repr later); export takes --out like every other writer."""
    for cmd in (["eval-stream", "--data", "d"], ["calibrate", "m.bkws", "--data", "d"]):
        with pytest.raises(SystemExit):
            parser.parse_args([*cmd, "--split", "bogus"])
        assert "invalid choice: 'bogus'" in capsys.readouterr().err
    args = parser.parse_args(["export", "m.pt", "--out", "m.bkws"])
    assert args.output == "m.bkws"
