"""Haar bands against PyWavelets, distillation losses and objectives."""

from __future__ import annotations

import numpy as np
import pytest
import pywt
import torch

from bifsmn.binary.convert import binarize
from bifsmn.distill.losses import attention_distance
from bifsmn.distill.objective import Distill
from bifsmn.distill.wavelet import haar_bands, haar_low, wavelet_bands
from bifsmn.errors import BifsmnError
from bifsmn.models import create_model


@pytest.mark.parametrize("shape", [(8, 128), (7, 10), (5, 5)])
def test_haar_low_matches_pywavelets(shape):
    x = np.random.default_rng(0).standard_normal(shape)
    ca, _ = pywt.dwt2(x, "haar", mode="zero")
    ref_low = pywt.idwt2((ca, (None, None, None)), "haar", mode="zero")[: shape[0], : shape[1]]
    ours = haar_low(torch.tensor(x)[None], 1)[0].numpy()
    np.testing.assert_allclose(ours, ref_low, atol=1e-12)


@pytest.mark.parametrize("wavelet,levels", [("db2", 1), ("sym4", 2), ("db3", 1)])
def test_other_wavelets_match_pywavelets(wavelet, levels):
    """Low band = reconstruction from the approximation alone (periodization), 2-D."""
    x = np.random.default_rng(1).standard_normal((8, 128))
    coeffs = pywt.wavedec2(x, wavelet, mode="periodization", level=levels)
    coeffs = [coeffs[0]] + [tuple(np.zeros_like(d) for d in det) for det in coeffs[1:]]
    ref_low = pywt.waverec2(coeffs, wavelet, mode="periodization")
    low, high = wavelet_bands(torch.tensor(x)[None], wavelet, levels)
    np.testing.assert_allclose(low[0].numpy(), ref_low, atol=1e-10)
    np.testing.assert_allclose((low + high)[0].numpy(), x, atol=1e-12)
    # orthogonal bands: the energy splits exactly
    assert float((low**2).sum() + (high**2).sum()) == pytest.approx(float((x**2).sum()))


def test_wavelet_matrices_are_made_once_per_device(monkeypatch):
    """A training step calls wavelet_bands every step: the band matrices are built and moved to
    the tensor's device once, not copied from the host per call (a sync per step on a GPU)."""
    from bifsmn.distill import wavelet

    wavelet._low_pass_tensor.cache_clear()
    made = []
    real = torch.as_tensor
    monkeypatch.setattr(wavelet.torch, "as_tensor", lambda *a, **k: made.append(1) or real(*a, **k))
    x = torch.randn(2, 8, 128)
    first = wavelet_bands(x, "db2")[0]
    assert len(made) == 2  # one matrix per axis
    again = wavelet_bands(x + 1, "db2")[0]
    assert len(made) == 2
    assert torch.allclose(again - first, wavelet_bands(torch.ones_like(x), "db2")[0], atol=1e-5)
    wavelet_bands(x.double(), "db2")  # another dtype is its own matrix
    assert len(made) == 4


def test_wavelet_errors_are_clear():
    x = torch.randn(2, 8, 128)
    with pytest.raises(BifsmnError, match="unknown wavelet 'nope'"):
        wavelet_bands(x, "nope")
    with pytest.raises(BifsmnError, match="not orthogonal"):
        wavelet_bands(x, "bior2.2")
    with pytest.raises(BifsmnError, match="not divisible"):
        wavelet_bands(x, "db2", levels=4)
    assert torch.equal(wavelet_bands(x, "haar")[0], haar_bands(x)[0])


def test_bands_sum_to_input_and_low_is_block_mean():
    x = torch.randn(3, 8, 128)
    low, high = haar_bands(x)
    assert torch.allclose(low + high, x, atol=1e-6)
    blocks = x.reshape(3, 4, 2, 64, 2).mean(dim=(2, 4))
    assert torch.allclose(low[:, ::2, ::2], blocks, atol=1e-6)
    two = haar_low(x, 2)  # two levels: 4x4 block means
    assert torch.allclose(two[:, 0, 0], x[:, :4, :4].mean(dim=(1, 2)), atol=1e-6)


def test_attention_distance_is_scale_free_and_zero_on_equal():
    a = torch.randn(4, 8, 16)
    assert attention_distance(a, a).item() == pytest.approx(0.0, abs=1e-6)
    assert attention_distance(a, 5 * a).item() == pytest.approx(0.0, abs=1e-6)
    assert attention_distance(a, torch.randn(4, 8, 16)).item() > 0.1


@pytest.mark.parametrize("kind", ["fid", "hed", "feature"])
def test_distill_objectives_backpropagate_only_into_the_student(kind):
    torch.manual_seed(0)
    teacher = create_model("dfsmn_teacher")
    student = binarize(create_model("dfsmn_thinnable"), "bifsmnv2")
    obj = Distill(teacher, kind, 0.01, [0, 1, 2, 3], [1, 0.5, 0.25, 0.125])
    x, y = torch.randn(6, 1, 32, 32), torch.randint(0, 12, (6,))
    loss, logits = obj(student, x, y)
    loss.backward()
    assert logits.shape == (6, 12) and torch.isfinite(loss)
    assert all(p.grad is None for p in teacher.parameters())
    assert student.blocks[0].fc_in.weight.grad is not None
    assert student.blocks[7].path_bn[3].weight.grad is not None  # 1-block path trained


def test_distill_teacher_sees_its_own_input():
    """``(student input, teacher input)``: the teacher is fed the second (distill.teacher_input
    = clean); a plain batch feeds both the same tensor."""
    torch.manual_seed(0)
    teacher = create_model("dfsmn_teacher").eval()
    student = binarize(create_model("dfsmn_thinnable"), "bifsmnv2")
    seen: list[torch.Tensor] = []
    teacher.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    obj = Distill(teacher, "fid", 0.1, [0], [1.0])
    x, xt, y = torch.randn(6, 1, 32, 32), torch.randn(6, 1, 32, 32), torch.randint(0, 12, (6,))
    torch.manual_seed(1)
    paired = obj(student, (x, xt), y)[0]
    assert seen[-1] is xt
    torch.manual_seed(1)
    same = obj(student, (x, x), y)[0]
    torch.manual_seed(1)
    plain = obj(student, x, y)[0]
    assert seen[-1] is x and torch.equal(same, plain) and not torch.equal(paired, plain)


def _fid_losses(**variants: dict) -> dict:
    """FID objective value for each named set of Distill options, same models and batch."""
    torch.manual_seed(0)
    teacher = create_model("dfsmn_teacher").eval()
    student = binarize(create_model("dfsmn_thinnable"), "bifsmnv2")
    x, y = torch.randn(6, 1, 32, 32), torch.randint(0, 12, (6,))
    vals = {}
    for name, opts in variants.items():
        torch.manual_seed(1)
        vals[name] = Distill(teacher, "fid", 1.0, [0], [1.0], **opts)(student, x, y)[0]
    return vals


def test_fid_band_options_change_the_loss():
    vals = {k: v.item() for k, v in _fid_losses(
        both={"bands": "both"}, low={"bands": "low"}, high={"bands": "high"}).items()}
    ce_mse = vals["low"] + vals["high"] - vals["both"]
    assert vals["both"] > vals["low"] > ce_mse - 1e-4 and vals["both"] > vals["high"]


def test_fid_wavelet_option_reaches_the_loss():
    vals = _fid_losses(haar={"wavelet": "haar"}, db2={"wavelet": "db2"})
    assert torch.isfinite(vals["db2"]) and vals["db2"].item() != vals["haar"].item()


def test_kl_soft_targets_add_the_tempered_kl_to_the_loss():
    """``options.kl``: the loss grows by ``kl * T^2 * KL(p_t || p_s)`` on every trained path,
    computed here by hand from the two models' logits; zero when the student is the teacher."""
    torch.manual_seed(0)
    teacher = create_model("dfsmn_teacher").eval()
    student = binarize(create_model("dfsmn_thinnable"), "bifsmnv2")
    x, y = torch.randn(6, 1, 32, 32), torch.randint(0, 12, (6,))
    vals = {}
    for name, opts in {"off": {}, "on": {"kl": 0.5, "kl_temperature": 3.0}}.items():
        torch.manual_seed(1)
        vals[name] = Distill(teacher, "fid", 0.1, [0], [1.0], **opts)(student, x, y)[0]
    torch.manual_seed(1)
    with torch.no_grad():
        zs, zt = student(x, path=0), teacher(x, path=0)
    pt, ps = torch.softmax(zt / 3, -1), torch.softmax(zs / 3, -1)
    kl = (pt * (pt.log() - ps.log())).sum(-1).mean() * 9
    assert kl.item() > 1e-3
    assert (vals["on"] - vals["off"]).item() == pytest.approx(0.5 * kl.item(), rel=1e-4)
    obj = Distill(teacher, "fid", 0.1, [0], [1.0], kl=1.0)
    assert obj.soft_target_loss(zt, zt).abs().item() < 1e-6
    with pytest.raises(BifsmnError, match="kl"):
        Distill(teacher, "fid", 0.1, [0], [1.0], kl=-1.0)


def test_37_class_student_is_distilled_on_the_teachers_12_classes():
    """A 37-class student of a 12-class teacher: the logit terms compare the student's logits
    merged into the 12 classes (log-sum-exp per group) with the teacher's, cross-entropy stays on
    the 37 labels; pairs of tasks with no common classes are refused naming the teacher."""
    from bifsmn.data.labels import LABELS_12, LABELS_35, LABELS_37, ClassMerge
    from bifsmn.distill.objective import task_merges

    torch.manual_seed(0)
    teacher = create_model("dfsmn_teacher").eval()
    student = binarize(create_model("dfsmn_thinnable", num_classes=37), "bifsmnv2")
    merge = ClassMerge(LABELS_37)
    x, y = torch.randn(6, 1, 32, 32), torch.randint(0, 37, (6,))
    obj = Distill(teacher, "feature", 1.0, [0], [1.0], kl=0.5, student_merge=merge)
    no_logits = Distill(teacher, "hed", 1.0, [0], [1.0], student_merge=merge)
    torch.manual_seed(1)
    loss, logits = obj(student, x, y)
    assert logits.shape == (6, 37) and torch.isfinite(loss)
    loss.backward()
    assert student.classifier.weight.grad[12:].abs().sum() > 0  # the word classes learn
    # the logit terms are those of the merged logits: rebuild them by hand
    with torch.no_grad():
        torch.manual_seed(1)
        zs, feats = student(x, path=0, return_features=True)
        zt, tf = teacher(x, path=0, return_features=True)
        m = merge.torch_logits(zs)
        assert m.shape == (6, 12)
        feat = sum(attention_distance(s, t) for s, t in zip(feats, tf, strict=True))
        pt, ps = torch.softmax(zt / 2, -1), torch.softmax(m / 2, -1)
        kl = (pt * (pt.log() - ps.log())).sum(-1).mean() * 4
        want = (torch.nn.functional.cross_entropy(zs, y) + feat
                + torch.nn.functional.mse_loss(m, zt) + 0.5 * kl)
    assert loss.item() == pytest.approx(want.item(), rel=1e-4)
    torch.manual_seed(1)
    assert torch.isfinite(no_logits(student, x, y)[0])
    # which side is merged, and refusals
    t12 = {"labels": list(LABELS_12), "model": {"kwargs": {}}}
    t37 = {"labels": list(LABELS_37), "model": {"kwargs": {}}}
    assert task_merges(LABELS_12, t12, "t.pt") == (None, None)
    s_merge, t_merge = task_merges(LABELS_37, t12, "t.pt")
    assert s_merge is not None and s_merge.labels == list(LABELS_12) and t_merge is None
    s_merge, t_merge = task_merges(LABELS_12, t37, "t.pt")
    assert s_merge is None and t_merge is not None and t_merge.labels == list(LABELS_12)
    with pytest.raises(BifsmnError, match=r"^t\.pt: the teacher's 12 classes and the student's 35"):
        task_merges(LABELS_35, t12, "t.pt")
