"""The deployed arithmetic (bifsmn.binary.deploy): same function as the training graph, its
documented summation order, and when a model's eval mode uses it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bifsmn.binary.convert import binarize
from bifsmn.binary.deploy import sum8
from bifsmn.engine.testing import make_checkpoint, random_features
from bifsmn.models import create_model
from bifsmn.train.checkpoint import model_from_checkpoint


def _graph(model: torch.nn.Module, x: torch.Tensor, path: int) -> torch.Tensor:
    """Eval-mode logits of the training graph (``return_features`` bypasses the deployed form)."""
    return model(x, path=path, return_features=True)[0]


@pytest.mark.parametrize("kind", ["bifsmnv2", "bifsmn_v1"])
def test_deployed_computes_the_training_graphs_function(kind, tmp_path) -> None:
    """Folding BN, scales and thresholds changes rounding only: a wrong fold, order or
    threshold would show up as large differences on random models and inputs."""
    model, _ = model_from_checkpoint(make_checkpoint(tmp_path / "m.pt", kind, seed=3))
    model.eval()
    x = torch.from_numpy(random_features(32, seed=5))
    with torch.no_grad():
        for path in range(4):
            graph, dep = _graph(model, x, path), model(x, path=path)
            assert model._deployed() is not None
            scale = max(1.0, float(graph.abs().max()))
            assert (graph - dep).abs().max().item() <= 1e-4 * scale, path
            assert torch.equal(graph.argmax(1), dep.argmax(1))


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


def test_deployed_form_follows_parameter_changes(tmp_path) -> None:
    model, _ = model_from_checkpoint(make_checkpoint(tmp_path / "m.pt", "bifsmnv2", seed=2))
    model.eval()
    x = torch.from_numpy(random_features(4, seed=1))
    with torch.no_grad():
        before = model(x)
        model.classifier.bias.add_(1.0)
        after = model(x)
    assert torch.allclose(after, before + 1.0, atol=1e-5)
    # a training step in between also invalidates it
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    torch.nn.functional.cross_entropy(model(x), torch.arange(4)).backward()
    opt.step()
    model.eval()
    with torch.no_grad():
        stepped = model(x)
        assert (stepped - _graph(model, x, 0)).abs().max() <= 1e-4 * stepped.abs().max()
    assert not torch.equal(stepped, after)


@pytest.mark.parametrize("method,options", [("react", {}), ("xnor", {}),
                                            ("bifsmnv2", {"granularity": "reference"})])
def test_models_without_an_engine_form_evaluate_their_graph(method, options) -> None:
    model = binarize(create_model("dfsmn_thinnable"), method, **options).eval()
    x = torch.from_numpy(random_features(3, seed=2))
    with torch.no_grad():
        assert torch.equal(model(x), _graph(model, x, 0))
    assert model._deployed() is None


def test_full_precision_models_evaluate_their_graph() -> None:
    model = create_model("dfsmn_teacher").eval()
    x = torch.from_numpy(random_features(2, seed=3))
    with torch.no_grad():
        assert torch.equal(model(x), _graph(model, x, 0))
    assert model._deployed() is None
