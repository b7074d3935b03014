"""The deployed arithmetic (bifsmn.deploy): same function as the training graph, its
documented summation order, the explicit deploy step, and which models evaluate in it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bifsmn.binary.convert import binarize
from bifsmn.deploy import (
    DeployedDFSMN,
    DeploySpec,
    NotDeployable,
    Scoring,
    deploy,
    fold,
    predict,
    sum8,
)
from bifsmn.engine.testing import make_checkpoint, random_features
from bifsmn.errors import MissingPath
from bifsmn.models import create_model
from bifsmn.train.checkpoint import model_from_checkpoint


def _graph(model: torch.nn.Module, x: torch.Tensor, path: int) -> torch.Tensor:
    """Eval-mode logits of the training graph."""
    was = model.training
    model.eval()
    with torch.no_grad():
        out = model(x, path=path)
    model.train(was)
    return out


@pytest.mark.parametrize("kind", ["bifsmnv2", "bifsmn_v1"])
def test_deployed_computes_the_training_graphs_function(kind, tmp_path) -> None:
    """Folding BN, scales and thresholds changes rounding only: a wrong fold, order or
    threshold would show up as large differences on random models and inputs."""
    model, _ = model_from_checkpoint(make_checkpoint(tmp_path / "m.pt", kind, seed=3))
    ref = deploy(model)
    assert isinstance(ref, DeployedDFSMN) and ref.blocks == [8, 4, 2, 1]
    x = torch.from_numpy(random_features(32, seed=5))
    with torch.no_grad():
        for path, blocks in enumerate((8, 4, 2, 1)):
            graph, dep = _graph(model, x, path), ref(x, blocks)
            scale = max(1.0, float(graph.abs().max()))
            assert (graph - dep).abs().max().item() <= 1e-4 * scale, path
            assert torch.equal(graph.argmax(1), dep.argmax(1))


def test_eval_mode_is_the_training_graph(tmp_path) -> None:
    """``model.eval()`` no longer swaps in the deployed form: forward is the graph."""
    model, _ = model_from_checkpoint(make_checkpoint(tmp_path / "m.pt", "bifsmnv2", seed=2))
    model.eval()
    x = torch.from_numpy(random_features(4, seed=1))
    with torch.no_grad():
        graph = model(x)
        feats_logits = model(x, path=0, return_features=True)[0]
    assert torch.equal(graph, feats_logits)
    assert not hasattr(model, "_deployed") and "_deploy_cache" not in model.__dict__


def test_fold_gives_a_typed_spec(tmp_path) -> None:
    model, _ = model_from_checkpoint(make_checkpoint(tmp_path / "m.pt", "bifsmnv2", seed=4))
    spec = fold(model, blocks=[4])
    assert isinstance(spec, DeploySpec) and spec.kind == "bifsmnv2" and spec.dual_scale
    assert spec.blocks == [4] and spec.paths == [1] and spec.arch.layers == 8
    assert spec.constants["conv2.bits"].dtype == "bits"
    assert spec.constants["fc1.scale"].value.dtype == np.float32
    assert "b1.fc_out.scale.p1" in spec.constants and "b0.mem.bits" not in spec.constants
    ref = DeployedDFSMN(spec)
    with pytest.raises(MissingPath):
        ref(torch.from_numpy(random_features(1)), 8)
    with pytest.raises(MissingPath):
        fold(create_model("dfsmn_teacher"), {"method": "none"}, "dfsmn_teacher", blocks=[4])


def test_sum8_order() -> None:
    """Element i goes to partial sum i % 8, partial sums combine pairwise: checked against a
    scalar float32 loop on values whose sum depends on the order."""
    rng = np.random.default_rng(0)
    for n in (5, 8, 128, 131, 4096):
        x = (rng.standard_normal(n) * 10.0 ** rng.integers(-6, 4, n)).astype(np.float32)
        p = [np.float32(0)] * 8
        for i, v in enumerate(x):
            p[i % 8] = np.float32(p[i % 8] + v)
        want = np.float32(np.float32(np.float32(p[0] + p[1]) + np.float32(p[2] + p[3]))
                          + np.float32(np.float32(p[4] + p[5]) + np.float32(p[6] + p[7])))
        got = sum8(torch.from_numpy(x)[None])[0].item()
        assert np.float32(got) == want, n


def test_deploy_reads_the_model_as_it_is_now(tmp_path) -> None:
    """Deployment is a step taken when asked: a later change needs a new deploy()."""
    model, _ = model_from_checkpoint(make_checkpoint(tmp_path / "m.pt", "bifsmnv2", seed=2))
    x = torch.from_numpy(random_features(4, seed=1))
    before = predict(model, x)
    with torch.no_grad():
        model.classifier.bias.add_(1.0)
    after = predict(model, x)
    assert torch.allclose(after, before + 1.0, atol=1e-5)
    # a training step in between: the new deployed form follows the new graph
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    torch.nn.functional.cross_entropy(model(x), torch.arange(4)).backward()
    opt.step()
    stepped = predict(model, x)
    assert model.training  # predict restores the mode it found
    assert (stepped - _graph(model, x, 0)).abs().max() <= 1e-4 * stepped.abs().max()
    assert not torch.equal(stepped, after)


@pytest.mark.parametrize("method,options", [("react", {}), ("xnor", {}),
                                            ("bifsmnv2", {"granularity": "reference"})])
def test_models_without_an_engine_form_evaluate_their_graph(method, options) -> None:
    model = binarize(create_model("dfsmn_thinnable"), method, **options).eval()
    x = torch.from_numpy(random_features(3, seed=2))
    assert torch.equal(predict(model, x), _graph(model, x, 0))
    assert Scoring(model).deployed is None
    with pytest.raises(NotDeployable):
        deploy(model)


def test_full_precision_models_evaluate_their_graph() -> None:
    model = create_model("dfsmn_teacher").eval()
    x = torch.from_numpy(random_features(2, seed=3))
    assert torch.equal(predict(model, x), _graph(model, x, 0))
    assert Scoring(model).deployed is None


def test_deploy_on_every_device(device, tmp_path) -> None:
    """A model on a GPU is folded from a CPU copy: the same bits, and the model stays put;
    the reference returns logits on the input's device."""
    model, _ = model_from_checkpoint(make_checkpoint(tmp_path / "s.pt", "bifsmnv2", seed=3))
    x = torch.from_numpy(random_features(4, seed=6))
    want = deploy(model)(x, 8)
    model.to(device)
    ref = deploy(model)
    assert next(model.parameters()).device.type == device
    got = ref(x.to(device), 8)
    assert got.device.type == device and torch.equal(got.cpu(), want)
    assert torch.equal(predict(model, x.to(device), 8), want)  # predict: logits on the CPU


def test_fold_reads_the_registered_name_of_a_full_precision_model():
    # create_model records the name, so fold(model) needs no model_name argument
    assert fold(create_model("dfsmn_teacher")).kind == "dfsmn_teacher"


def test_predict_finite_refuses_nan_logits(tmp_path):
    # scale-table and eval-paired score through it: NaN never becomes an accuracy
    from bifsmn.deploy import predict_finite
    from bifsmn.errors import NonFiniteError

    model = create_model("dfsmn_teacher")
    x = torch.from_numpy(random_features(4))
    assert torch.isfinite(predict_finite(model, x, 8, "four clips", "m.pt")).all()
    with torch.no_grad():
        model.classifier.weight.fill_(float("nan"))
    with pytest.raises(NonFiniteError, match="non-finite logits .* on four clips, 8 blocks"):
        predict_finite(model, x, 8, "four clips", "m.pt")


def test_split_hook_sees_every_binarizer_input_in_order(tmp_path) -> None:
    """``split_hook`` (what probes of the thresholds watch) gets each dual-scale binarizer's input
    under its thresholds' record, in the order the path runs them, and changes nothing."""
    model, _ = model_from_checkpoint(make_checkpoint(tmp_path / "m.pt", "bifsmnv2", seed=6))
    ref = deploy(model)
    x = torch.from_numpy(random_features(3, seed=2))
    with torch.no_grad():
        plain = ref(x, 4)
        seen: list[tuple[str, tuple[int, ...]]] = []
        ref.split_hook = lambda name, v: seen.append((name, tuple(v.shape)))
        hooked = ref(x, 4)
    assert torch.equal(plain, hooked)
    names = [n for n, _ in seen]
    want = ["conv2.tau", "fc1.tau"]
    for j in (1, 3, 5, 7):  # the 4-block path's layers; memory splits its frames, then the padding
        want += [f"b{j}.mem.tau", f"b{j}.mem.tau", f"b{j}.fc_in.tau", f"b{j}.fc_out.tau"]
    assert names == want
    assert all(name in ref.spec.constants for name in names)
    assert seen[0][1][0] == 3 and seen[3][1] == (1, 1, ref.dim)  # a clip batch; one pad frame
