"""Model registry, sizes of spec 2.5, thinnable paths."""

from __future__ import annotations

import pytest
import torch

from bifsmn.blocks import layers_of_index as path_blocks
from bifsmn.errors import BifsmnError, MissingPath
from bifsmn.models import create_model, list_models
from bifsmn.models.summary import format_summary, layer_stats


def test_teacher_size_matches_spec():
    m = create_model("dfsmn_teacher", num_classes=12)
    assert sum(p.numel() for p in m.parameters()) == 600_252
    assert sum(s.macs for s in layer_stats(m)) == 5_431_296
    m35 = create_model("dfsmn_teacher", num_classes=35)
    assert sum(p.numel() for p in m35.parameters()) == 623_827


def test_student_topology_size_and_path_macs():
    m = create_model("dfsmn_thinnable")
    assert sum(p.numel() for p in m.parameters()) == 606_431
    macs = [sum(s.macs for s in layer_stats(m, b)) for b in (8, 4, 2, 1)]
    assert macs == [5_431_296, 3_313_664, 2_254_848, 1_725_440]


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_runs_forward_and_backward(name):
    m = create_model(name, num_classes=12)
    x = torch.randn(3, 1, 32, 32)
    out = m(x)
    assert out.shape == (3, 12)
    out.sum().backward()
    assert all(p.grad is not None for n, p in m.named_parameters()
               if "path_" not in n or n.split("path_")[1].split(".")[1] == "0")


def test_thinnable_paths_run_the_right_blocks():
    assert path_blocks(0) == list(range(8))
    assert path_blocks(1) == [1, 3, 5, 7]
    assert path_blocks(2) == [3, 7]
    assert path_blocks(3) == [7]
    m = create_model("dfsmn_thinnable").eval()
    ran: list[int] = []
    for j, blk in enumerate(m.blocks):
        blk.register_forward_hook(lambda *_a, j=j: ran.append(j))
    for p, want in enumerate(([0, 1, 2, 3, 4, 5, 6, 7], [1, 3, 5, 7], [3, 7], [7])):
        ran.clear()
        logits, feats = m(torch.randn(2, 1, 32, 32), path=p, return_features=True)
        assert ran == want and len(feats) == len(want)
    # the teacher has a single path set
    with pytest.raises(MissingPath, match="4 blocks not available"):
        create_model("dfsmn_teacher")(torch.randn(1, 1, 32, 32), path=1)


def test_unknown_model_name_is_one_line_error():
    with pytest.raises(BifsmnError, match="unknown model 'nope'") as e:
        create_model("nope")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("kw", [{"num_paths": 0}, {"hidden": 0}, {"left": -1}])
def test_impossible_sizes_are_refused_when_the_model_is_built(kw):
    """Not at the first forward pass, as an IndexError (num_paths=0 got through)."""
    with pytest.raises(BifsmnError, match="model sizes must be positive"):
        create_model("dfsmn_thinnable", **kw)


def test_a_path_without_its_own_batchnorm_set_is_missing():
    """num_paths=2: paths 2 and 3 shared the last BatchNorm/PReLU set, silently; the config
    that would train them is refused when it is loaded."""
    from bifsmn.train.config import load_config, resolve_config

    m = create_model("dfsmn_thinnable", num_paths=2)
    assert m(torch.zeros(1, 1, 32, 32), path=1).shape == (1, 12)
    with pytest.raises(MissingPath, match="2 blocks not available"):
        m(torch.zeros(1, 1, 32, 32), path=2)
    with pytest.raises(BifsmnError, match="train.blocks: 2 blocks not available"):
        load_config(resolve_config("bifsmnv2"), ["model.kwargs.num_paths=2"])
    load_config(resolve_config("bifsmnv2"), ["model.kwargs.num_paths=2", "train.blocks=[8,4]",
                                             "train.path_weights=[1,0.5]"])


def test_quantizer_registry_is_full_on_import_and_checks_its_arguments():
    """``bifsmn.binary`` lists every built-in quantizer without a model module imported first
    (it listed only 'identity'), and a typo in ``role`` or ``kind`` is refused at build time."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "from bifsmn.binary import list_quantizers; "
                          "print(' '.join(list_quantizers()))"], capture_output=True, text=True,
                         check=True).stdout.split()
    assert {"lpb", "dual_scale", "ste_sign", "xnor", "identity"} <= set(out), out
    from bifsmn.binary import get_quantizer

    with pytest.raises(ValueError, match="role must be 'input' or 'weight'"):
        get_quantizer("dual_scale", channels=8, role="weights")
    with pytest.raises(ValueError, match="kind must be one of"):
        get_quantizer("xnor", channels=8, kind="conv")


def test_summary_text_has_totals():
    text = format_summary(create_model("dfsmn_teacher"))
    assert "600,252" in text and "5,431,296" in text


@pytest.mark.parametrize(("name", "argv", "params", "macs"), [
    ("dfsmn_teacher", [], "600,252", "MACs per 1-s clip: 5,431,296 (binary: 0"),
    ("dfsmn_teacher", ["--input", "40x32"], "608,444", "MACs per 1-s clip: 5,727,232 (binary: 0"),
    ("dfsmn_teacher", ["--input", "40x96"], "633,020",
     "MACs per 1-s clip: 17,181,696 (binary: 0"),
    ("dfsmn_teacher", ["--input", "40x96", "--layers", "12"], "903,876",
     "MACs per 1-s clip: 23,534,592 (binary: 0"),
    ("dfsmn_thinnable", ["--binary", "bifsmnv2", "--input", "40x32"], "627,997",
     "(binary: 5,586,944,"),
])
def test_summary_counts_quoted_in_docs(name, argv, params, macs, capsys):
    # README and docs/fbank40.md quote these counts next to the command that prints them
    from bifsmn.cli import main

    assert main(["summary", name, *argv]) == 0
    out = capsys.readouterr().out
    assert f"total parameters: {params}" in out and macs in out
