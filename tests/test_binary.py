"""Quantizers, binary layers and methods: values, gradients, granularity, learning."""

from __future__ import annotations

import pytest
import torch

from bifsmn.binary import get_quantizer, list_quantizers
from bifsmn.binary.convert import binarize
from bifsmn.binary.layers import QuantMixin
from bifsmn.binary.methods import METHODS, RPReLU
from bifsmn.errors import BifsmnError
from bifsmn.models import create_model

X = torch.tensor([-2.0, -0.5, 0.0, 0.3, 1.5])


def grad_of(q, x: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    q(x).sum().backward()
    return x.grad


def test_registry_has_the_paper_methods():
    for name in ("ste_sign", "xnor", "approx_sign", "ir_net", "react", "bifsmn_v1", "lpb",
                 "dual_scale", "identity"):
        assert name in list_quantizers()
    with pytest.raises(BifsmnError, match="unknown quantizer"):
        get_quantizer("nope")


def test_ste_sign_forward_and_clipped_gradient():
    q = get_quantizer("ste_sign")
    assert q(X).tolist() == [-1, -1, 1, 1, 1]  # sign(0) = +1: always two levels
    assert grad_of(q, X).tolist() == [0, 1, 1, 1, 0]


def test_approx_sign_gradient_is_piecewise_linear():
    g = grad_of(get_quantizer("approx_sign"), X)
    assert torch.allclose(g, torch.tensor([0.0, 1.0, 2.0, 1.4, 0.0]))


def test_xnor_weight_scale_is_per_output_channel_over_all_inputs():
    w = torch.tensor([[1.0, -3.0], [0.5, 0.5]])
    q = get_quantizer("xnor", role="weight", kind="pointwise")
    assert torch.allclose(q(w), torch.tensor([[2.0, -2.0], [0.5, 0.5]]))
    # the reference code's last-axis mean on a 1x1 conv is |W|: weights stay full precision
    ref = get_quantizer("xnor", role="weight", kind="pointwise", granularity="reference")
    assert torch.equal(ref(w), w)


def test_xnor_input_scale_is_per_token():
    x = torch.tensor([[[1.0, -3.0], [2.0, 2.0]]])  # (B=1, T=2, C=2)
    out = get_quantizer("xnor", role="input")(x)
    assert torch.allclose(out, torch.tensor([[[2.0, -2.0], [2.0, 2.0]]]))


def test_lpb_alpha_shapes_the_backward_window():
    q = get_quantizer("lpb", channels=5, channel_dim=-1, role="input")
    with torch.no_grad():
        q.threshold.zero_()
        q.alpha.fill_(2.0)
    assert q(X).tolist() == [-1, -1, 1, 1, 1]
    # window |alpha u| <= 1 -> |u| <= 0.5, gain alpha = 2
    assert grad_of(q, X).tolist() == [0, 2, 2, 2, 0]
    q.alpha.grad = None
    x = X.clone().requires_grad_(True)
    q(x).sum().backward()
    assert q.alpha.grad.item() == pytest.approx(-0.5 + 0.0 + 0.3)
    assert q.threshold.grad is not None


def _spec_weight_grad(w: torch.Tensor, alpha: float, g: torch.Tensor) -> torch.Tensor:
    """The spec's LPB gradient (docs/methods.md, "Gradients and scales"): alpha inside the
    window |alpha w| <= 1, zero outside, the scale s_w nowhere."""
    return torch.where((alpha * w).abs() <= 1, alpha * g, torch.zeros_like(g))


@pytest.mark.parametrize("name", ["lpb", "dual_scale"])
def test_weight_scale_stays_out_of_the_lpb_gradient(name):
    """Q(w) = sign(alpha w) * s_w forward; dQ/dw = alpha * 1[|alpha w| <= 1], not multiplied by
    s_w (the reference code's LPBQuantize; a plain product would scale the step by s_w ~ 0.02).
    scale_grad=True keeps the old product's gradient; the values are the same either way."""
    torch.manual_seed(1)
    w = torch.randn(4, 6) * 0.05
    g = torch.randn(4, 6)
    q = get_quantizer(name, channels=4, role="weight", kind="linear")
    old = get_quantizer(name, channels=4, role="weight", kind="linear", scale_grad=True)
    with torch.no_grad():
        q.alpha.fill_(3.0)
        old.alpha.fill_(3.0)
    wa, wb = w.clone().requires_grad_(True), w.clone().requires_grad_(True)
    out, out_old = q(wa), old(wb)
    assert torch.equal(out, out_old)  # the same forward bits
    s_w = w.abs().mean(dim=1, keepdim=True)
    assert torch.equal(out, torch.where(w >= 0, 1.0, -1.0) * s_w)
    (out * g).sum().backward()
    (out_old * g).sum().backward()
    assert torch.allclose(wa.grad, _spec_weight_grad(w, 3.0, g))
    assert torch.allclose(wb.grad, _spec_weight_grad(w, 3.0, g) * s_w)
    # dQ/dalpha = w * 1[...] times the incoming gradient, unscaled as well
    inside = (3.0 * w).abs() <= 1
    assert q.alpha.grad.item() == pytest.approx(float((g * w)[inside].sum()), rel=1e-5)


def test_dual_scale_second_bit_gradient_ignores_its_scale():
    """x_hat = b1 + s * sign(r) - tau2: the gradient through sign(r) is the LPB window's, not
    multiplied by s (spec: "Gradients ignore s and s_w")."""
    torch.manual_seed(2)
    q = get_quantizer("dual_scale", channels=8, channel_dim=-1, role="input")
    old = get_quantizer("dual_scale", channels=8, channel_dim=-1, role="input", scale_grad=True)
    old.load_state_dict(q.state_dict())
    x = torch.randn(2, 3, 8)
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    out, out_old = q(xa), old(xb)
    assert torch.equal(out, out_old)
    out.sum().backward()
    out_old.sum().backward()
    tau0, tau1, _ = q.threshold.detach()
    u = x - tau0
    b1 = torch.where(u >= 0, 1.0, -1.0)
    r = x - b1 - tau1
    s = r.abs().mean(dim=-1, keepdim=True)
    win0, win1 = (u.abs() <= 1).float(), (r.abs() <= 1).float()  # alpha = 1
    # d x_hat / dx = win0 + d/dx[sign(r)] * (dr/dx) with dr/dx = 1 - win0 (b1 not detached)
    assert torch.allclose(xa.grad, win0 + win1 * (1 - win0))
    assert torch.allclose(xb.grad, win0 + s * win1 * (1 - win0))


def test_bifsmn_v1_weight_scale_stays_out_of_the_gradient():
    """BiFSMN's Vanilla binarizer: clipped STE through the centred weights, unscaled."""
    torch.manual_seed(3)
    w = (torch.randn(3, 4, 5) * 0.1).requires_grad_(True)
    q = get_quantizer("bifsmn_v1", channels=3, role="weight", kind="depthwise")
    q(w).sum().backward()
    centred = w.detach() - w.detach().mean()
    win = (centred.abs() <= 1).float()
    # d/dw of (w - mean(w)) spreads each window value minus their mean over the tensor
    assert torch.allclose(w.grad, win - win.mean(), atol=1e-6)


def test_scale_grad_option_is_checked():
    with pytest.raises(ValueError, match="scale_grad must be true or false"):
        get_quantizer("lpb", role="weight", scale_grad="yes")


def test_dual_scale_output_takes_only_its_four_levels():
    torch.manual_seed(0)
    q = get_quantizer("dual_scale", channels=6, channel_dim=-1, role="input")
    with torch.no_grad():
        q.threshold.uniform_(-0.2, 0.2)
    x = torch.randn(3, 5, 6)
    out = q(x)
    tau0, tau1, tau2 = q.threshold
    b1 = torch.where(x - tau0 >= 0, 1.0, -1.0)
    r = x - b1 - tau1
    s = r.abs().mean(-1, keepdim=True)  # one scale per token
    expected = b1 + s * torch.where(r >= 0, 1.0, -1.0) - tau2
    assert torch.allclose(out, expected)
    levels = out + tau2  # per token: {+-1 +- s}
    for t in range(5):
        allowed = torch.stack([1 + s[0, t], 1 - s[0, t], -1 + s[0, t], -1 - s[0, t]]).flatten()
        assert all(torch.isclose(v, allowed).any() for v in levels[0, t])


def test_dual_scale_conv_input_scale_is_per_sample():
    q = get_quantizer("dual_scale", channels=4, channel_dim=1, role="input", kind="conv2d")
    x = torch.randn(2, 4, 5, 5)
    out = q(x) + q.threshold[2].view(1, 4, 1, 1)
    mags = (out.abs() - 1).abs()  # = s everywhere in a sample
    for b in range(2):
        assert torch.allclose(mags[b], mags[b].flatten()[0].expand_as(mags[b]), atol=1e-6)


def test_ir_net_weights_are_balanced_and_ede_anneals():
    q = get_quantizer("ir_net", role="weight", kind="linear")
    w = torch.randn(4, 16) + 3.0  # all positive before balancing
    out = q(w)
    assert set(out[0].sign().tolist()) == {-1.0, 1.0}
    s = out.abs()
    assert torch.allclose(torch.log2(s), torch.round(torch.log2(s)))  # power-of-two scale
    q.set_progress(0.0)
    t0 = q.t
    q.set_progress(1.0)
    assert t0 == pytest.approx(0.1) and q.t == pytest.approx(10.0)


def test_rprelu_conversion_keeps_the_function():
    model = create_model("dfsmn_thinnable").eval()
    x = torch.randn(2, 1, 32, 32)
    before = model(x, path=1)
    binarize(model, "none")
    from bifsmn.binary.methods import replace_prelu_with_rprelu

    replace_prelu_with_rprelu(model)
    assert any(isinstance(m, RPReLU) for m in model.modules())
    assert torch.allclose(model(x, path=1), before, atol=1e-5)


def test_binarize_keeps_first_and_last_layers_full_precision():
    model = binarize(create_model("dfsmn_thinnable"), "bifsmnv2")
    quant = {n: m.quantizer_names() for n, m in model.named_modules() if isinstance(m, QuantMixin)}
    assert quant["conv1"] == ("identity", "identity")
    assert quant["conv2"] == ("dual_scale", "lpb")
    assert all(v == ("dual_scale", "lpb") for k, v in quant.items() if k != "conv1")
    assert not isinstance(model.classifier, QuantMixin)
    assert sum(p.numel() for p in model.parameters()) == 619_613  # spec 2.5


def test_true_one_bit_weights_have_two_levels_per_output_channel():
    model = binarize(create_model("dfsmn_thinnable"), "bifsmnv2")
    for name, m in model.named_modules():
        if isinstance(m, QuantMixin) and name != "conv1":
            w = m.weight_quantizer(m.weight).detach()
            for row in w.reshape(w.shape[0], -1):
                assert row.abs().unique().numel() == 1, name


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_learns_on_tiny_data(method):
    torch.manual_seed(0)
    model = binarize(create_model("dfsmn_thinnable", num_classes=4), method)
    x = torch.randn(32, 1, 32, 32)
    y = torch.arange(32) % 4
    x[y == 1, :, :8] += 3.0
    x[y == 2, :, 8:16] += 3.0
    x[y == 3, :, 16:24] += 3.0
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(20):
        loss = sum(torch.nn.functional.cross_entropy(model(x, path=p), y) for p in (0, 2))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-3:]) / 3 < 0.7 * losses[0], (method, losses)


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_react_probe_uses_the_models_input_and_device(device):
    """ReActNet's RPReLU sizes come from a probe forward: with the model's own band count (an
    fbank40 model reads 40) and on the device its weights are on ("meta" stands in for a GPU:
    a CPU probe would not run there)."""
    from bifsmn.binary.convert import binarize
    from bifsmn.models import create_model

    model = create_model("dfsmn_thinnable", n_mels=40, frames=32).to(device)
    out = binarize(model, "react")
    assert any(type(m).__name__ == "RPReLU" for m in out.modules())
    if device == "cpu":
        logits = out.eval()(torch.zeros(2, 1, 40, 32))
        assert logits.shape == (2, 12)
