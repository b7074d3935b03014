"""The 37-class task: the 25 unknown words as classes of their own, merged into ``_unknown_``
(log-sum-exp of logits = sum of posteriors) wherever a model answers the 12-class question:
labels, data sets, the classifier widened from a 12-class checkpoint, training, evaluation and
both scoring backends."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_archive import _tiny_cfg

from bifsmn.data.archive import FeatureArchive
from bifsmn.data.labels import (
    LABELS_12,
    LABELS_35,
    LABELS_37,
    UNKNOWN_WORDS,
    ClassMerge,
    group_of,
    label_of_word,
    labels_for_task,
)
from bifsmn.errors import BifsmnError


def test_label_sets_and_words():
    assert len(UNKNOWN_WORDS) == 25 and len(set(LABELS_37)) == 37
    assert LABELS_37[:12] == LABELS_12 and labels_for_task(37) == LABELS_37
    assert label_of_word(LABELS_12, "bed") == 0 and label_of_word(LABELS_12, "yes") == 2
    assert LABELS_37[label_of_word(LABELS_37, "bed")] == "_unknown_:bed"
    assert label_of_word(LABELS_37, "yes") == 2 and label_of_word(LABELS_37, "_silence_") == 1
    assert label_of_word(LABELS_37, "unknown") == 0  # a word the task does not name
    assert label_of_word(LABELS_35, "_silence_") is None and LABELS_35[
        label_of_word(LABELS_35, "bed")] == "bed"
    assert group_of("_unknown_:tree") == "_unknown_" and group_of("yes") == "yes"
    assert group_of("left:x") == "left:x"  # only _unknown_ has members
    with pytest.raises(BifsmnError, match="12, 35 or 37"):
        labels_for_task(13)


def test_merged_logits_sum_the_posteriors():
    m = ClassMerge(LABELS_37)
    assert m.labels == list(LABELS_12) and not m.identity
    assert ClassMerge(LABELS_12).identity
    z = np.random.default_rng(0).normal(0, 4, (6, 37)).astype(np.float32)
    p = torch.softmax(torch.from_numpy(z).double(), 1).numpy()
    want = np.concatenate([p[:, [0]] + p[:, 12:].sum(1, keepdims=True), p[:, 1:12]], 1)
    got = torch.softmax(torch.from_numpy(m.logits(z)).double(), 1).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert m.logits(z).dtype == np.float32 and m.logits(z).shape == (6, 12)
    np.testing.assert_allclose(m.torch_logits(torch.from_numpy(z)).numpy(), m.logits(z),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(m.logits(z)[:, 1:], z[:, 1:12])  # the 11 others untouched
    big = np.full((1, 37), -1e30, np.float32)
    big[0, 20] = 80.0  # no overflow: the group's maximum is taken out first
    assert np.isclose(m.logits(big)[0, 0], 80.0)
    assert m.index.tolist() == [*range(12), *[0] * 25]


def test_widened_classifier_keeps_the_12_class_answers():
    m = ClassMerge(LABELS_37)
    w, b = torch.randn(12, 7), torch.randn(12)
    w37, b37 = m.widen(w, b, list(LABELS_12))
    x = torch.randn(5, 7)
    torch.testing.assert_close(m.torch_logits(x @ w37.T + b37), x @ w.T + b)
    assert torch.equal(w37[20], w[0])  # a word starts as _unknown_
    with pytest.raises(BifsmnError, match="cannot widen"):
        m.widen(w, b, list(LABELS_35[:12]))


def test_archive_names_each_unknown_word_and_shares_the_images(feature_archive, tmp_path):
    a12, a37 = FeatureArchive(feature_archive, 12), FeatureArchive(feature_archive, 37)
    it12, it37 = a12.items("training"), a37.items("training")
    assert [i.rel for i in it12] == [i.rel for i in it37]
    for i, j in zip(it12, it37, strict=True):
        assert group_of(a37.labels[j.label]) == a12.labels[i.label]
        if i.word in UNKNOWN_WORDS:
            assert a37.labels[j.label] == f"_unknown_:{i.word}"
    img12, _ = a12.images("training", tmp_path / "cache")
    img37, lab37 = a37.images("training", tmp_path / "cache")
    assert torch.equal(img12, img37) and len(list((tmp_path / "cache").glob("*.npy"))) == 1
    assert int(lab37.max()) >= 12


def test_train_37_from_12_then_evaluate_and_score(feature_archive, tmp_path):
    from bifsmn.detect.scorer import EngineScorer, TorchScorer
    from bifsmn.engine.export import export_checkpoint
    from bifsmn.evaluate import evaluate_checkpoint
    from bifsmn.train.checkpoint import load_checkpoint, model_from_checkpoint
    from bifsmn.train.config import config_from_dict
    from bifsmn.train.trainer import Trainer

    raw = _tiny_cfg(feature_archive, tmp_path / "cache")
    raw["train"]["epochs"] = 1
    Trainer(config_from_dict(raw), tmp_path / "r12", progress=False).fit()
    first = tmp_path / "r12" / "last.pt"
    raw["data"]["num_classes"] = 37
    raw["model"]["init"] = str(first)
    tr = Trainer(config_from_dict(raw), tmp_path / "r37", progress=False)
    # the widened start answers exactly as the 12-class checkpoint (before any step)
    tr._model()
    m12, _ = model_from_checkpoint(first)
    x = torch.randn(4, 1, 40, 32) * 30 + 100
    with torch.no_grad():
        torch.testing.assert_close(ClassMerge(LABELS_37).torch_logits(tr.model.eval()(x)),
                                   m12.eval()(x), rtol=1e-5, atol=1e-4)
    tr = Trainer(config_from_dict(raw), tmp_path / "r37", progress=False)
    tr.fit()
    ckpt = load_checkpoint(tmp_path / "r37" / "last.pt")
    assert ckpt["labels"] == list(LABELS_37)
    assert 0.0 <= ckpt["metrics"]["val_acc_8"] <= 1.0
    m = evaluate_checkpoint(tmp_path / "r37" / "last.pt", feature_archive, "validation",
                            cache_dir=tmp_path / "cache", progress=False)
    assert m["labels"] == list(LABELS_12) and np.array(m["confusion"]).shape == (12, 12)
    # both backends answer with the 12 merged classes, the engine within float rounding
    ts = TorchScorer.from_checkpoint(tmp_path / "r37" / "last.pt")
    bk = tmp_path / "v37.bkws"
    export_checkpoint(tmp_path / "r37" / "last.pt", bk)
    es = EngineScorer(bk)
    assert ts.labels == es.labels == list(LABELS_12) and len(es.engine.labels) == 37
    feats = x.numpy().astype(np.float32)
    raw_logits = es.engine.predict(feats)
    np.testing.assert_allclose(es.scores(feats), ClassMerge(LABELS_37).logits(
        np.asarray(raw_logits, np.float32)), rtol=1e-6)
    np.testing.assert_allclose(es.scores(feats), ts.scores(feats), rtol=1e-3, atol=1e-2)
    # Engine.classify answers the 12-class question too, unless asked for its own classes
    merged = ClassMerge(LABELS_37).logits(np.asarray(raw_logits, np.float64))
    want = np.exp(merged - merged.max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    got = es.engine.classify(feats)
    assert [g[0] for g in got] == [LABELS_12[i] for i in want.argmax(1)]
    np.testing.assert_allclose([g[1] for g in got], want.max(1), rtol=1e-9)
    own = es.engine.classify(feats, merge=False)
    assert [o[0] for o in own] == [LABELS_37[i] for i in np.asarray(raw_logits).argmax(1)]
    # a 37-class 1-bit student distilled from the 12-class teacher: its logit terms use its
    # merged logits (tests/test_distill.py), so training runs and it answers in 37 classes
    from bifsmn.train.runner import run_training

    student = dict(raw, model={"name": "dfsmn_thinnable", "kwargs": {"n_mels": 40, "frames": 32}},
                   binary={"method": "bifsmnv2"}, distill={"kind": "fid", "teacher": str(first)})
    student["train"] = dict(raw["train"], blocks=[8, 2], path_weights=[1.0, 0.25])
    summary = run_training(config_from_dict(student), tmp_path / "s37", progress=False)
    assert 0.0 <= summary["best_val_acc"] <= 1.0
    assert load_checkpoint(tmp_path / "s37" / "last.pt")["labels"] == list(LABELS_37)
