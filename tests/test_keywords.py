"""Keyword tasks of one's own (``data.keywords``): labels, data sets, training, distillation
from a 12-class teacher, evaluation, export and detection streams."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import WORDS, make_full_dataset

from bifsmn.cli import main
from bifsmn.data.labels import (
    LABELS_12,
    LABELS_37,
    SILENCE,
    UNKNOWN,
    ClassMerge,
    keywords_of,
    labels_for_task,
    task_of,
)
from bifsmn.data.speech_commands import SpeechCommands
from bifsmn.errors import BifsmnError
from bifsmn.train.config import config_from_dict
from bifsmn.train.warm_start import classifier_by_name

MINE = ["marvin", "yes"]  # one word outside the ten commands, one inside
MY_LABELS = (UNKNOWN, SILENCE, "marvin", "yes")


@pytest.fixture
def kw_ds(tmp_path):
    return make_full_dataset(tmp_path / "sc_kw", per_word=6, words=[*WORDS, "marvin"])


def test_labels_of_a_keyword_task():
    assert labels_for_task(4, MINE) == MY_LABELS
    assert keywords_of(MY_LABELS) == ("marvin", "yes")
    assert keywords_of(LABELS_12) == keywords_of(LABELS_37) == LABELS_12[2:]
    assert task_of(MY_LABELS) == (4, ("marvin", "yes"))
    assert task_of(LABELS_12) == (12, ()) and task_of(LABELS_37) == (37, ())
    for kw, n, msg in ((MINE, 12, "2 keywords make 4 classes"),
                       (["yes", "yes"], 4, "more than once"),
                       (["_unknown_"], 3, "cannot name a class"),
                       (["a/b"], 3, "cannot name a class"),
                       (["bed:x"], 3, "cannot name a class"),
                       ([""], 3, "cannot name a class")):
        with pytest.raises(BifsmnError, match=msg):
            labels_for_task(n, kw)


def test_merge_onto_answers_the_students_classes_from_a_teachers():
    merge = ClassMerge.onto(LABELS_12, ["_unknown_", "_silence_", "no", "yes"])
    assert merge.labels == ["_unknown_", "_silence_", "no", "yes"] and not merge.identity
    z = np.random.default_rng(0).standard_normal((5, 12)).astype(np.float32)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    got = merge.logits(z)
    q = np.exp(got) / np.exp(got).sum(1, keepdims=True)
    unk = [LABELS_12.index(w) for w in LABELS_12 if w not in ("_silence_", "no", "yes")]
    assert np.allclose(q[:, 0], p[:, unk].sum(1), atol=1e-6)  # up ... go count as unknown
    assert np.allclose(q[:, 2], p[:, LABELS_12.index("no")], atol=1e-6)
    assert np.allclose(q[:, 3], p[:, LABELS_12.index("yes")], atol=1e-6)
    assert torch.allclose(merge.torch_logits(torch.from_numpy(z)), torch.from_numpy(got))
    with pytest.raises(BifsmnError, match="no class among .* answers marvin"):
        ClassMerge.onto(LABELS_12, MY_LABELS)
    # a permutation of the same classes is not the identity
    assert not ClassMerge.onto(MY_LABELS, (UNKNOWN, SILENCE, "yes", "marvin")).identity
    assert ClassMerge.onto(MY_LABELS, MY_LABELS).identity


def test_config_keywords_set_the_class_count():
    cfg = config_from_dict({"data": {"keywords": MINE}})
    assert cfg.data.num_classes == 4
    assert config_from_dict({"data": {"keywords": MINE, "num_classes": 4}}).data.num_classes == 4
    with pytest.raises(BifsmnError, match=r"data.keywords: 2 keywords make 4 classes .* not 35"):
        config_from_dict({"data": {"keywords": MINE, "num_classes": 35}})
    with pytest.raises(BifsmnError, match="data.keywords: .*more than once"):
        config_from_dict({"data": {"keywords": ["yes", "yes"]}})


def test_data_set_labels_every_other_word_unknown(kw_ds):
    ds = SpeechCommands(kw_ds, 4, keywords=MINE)
    assert ds.labels == MY_LABELS and ds.num_classes == 4
    assert SpeechCommands(kw_ds, keywords=MINE).labels == MY_LABELS  # the count follows
    items = [it for it in ds.items("training") if it.path]
    by_word = {it.word: it.label for it in items}
    assert by_word["marvin"] == 2 and by_word["yes"] == 3
    assert all(by_word[w] == 0 for w in WORDS if w != "yes")  # no, up, ..., bed, cat
    assert sum(it.word == SILENCE for it in ds.items("training")) > 0  # reference protocol
    # the standard protocol subsamples the words that are not the task's keywords
    std = SpeechCommands(kw_ds, 4, "standard", keywords=MINE).items("training")
    kw = sum(it.label in (2, 3) for it in std)
    unk = sum(it.label == 0 for it in std)
    assert kw == 8 and unk == max(1, round(0.1 * kw))  # 4 training clips per word, 2 keywords


def test_classifier_rows_carry_over_by_name():
    src = list(LABELS_12)
    state = {"classifier.weight": torch.arange(12.0)[:, None].repeat(1, 3),
             "classifier.bias": torch.arange(12.0)}
    own = {"classifier.weight": torch.full((4, 3), -1.0), "classifier.bias": torch.full((4,), -1.0)}
    out = classifier_by_name(state, own, src, list(MY_LABELS))
    assert out["classifier.bias"].tolist() == [0.0, 1.0, -1.0, float(src.index("yes"))]
    assert out["classifier.weight"][2].tolist() == [-1.0] * 3  # marvin: the model's own row


def _train(cfg: dict, out, teacher: str | None = None):
    from bifsmn.train.config import set_teacher
    from bifsmn.train.runner import run_training

    c = config_from_dict(cfg)
    set_teacher(c, teacher)
    run_training(c, out, progress=False)  # with the distillation objective where configured
    return out / "best.pt"


def _cfg(root, model: str, **data) -> dict:
    cfg = {"model": {"name": model},
           "data": {"root": str(root), "batch_size": 16, **data},
           "optim": {"name": "adam", "lr": 1e-3, "weight_decay": 0.0},
           "train": {"epochs": 1, "threads": 1}}
    if model != "dfsmn_teacher":
        cfg["binary"] = {"method": "bifsmnv2"}
        cfg["distill"] = {"kind": "fid"}
    return cfg


def test_train_eval_export_and_streams_of_a_keyword_task(kw_ds, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BIFSMN_CACHE", str(tmp_path / "cache"))
    ckpt = _train(_cfg(kw_ds, "dfsmn_teacher", keywords=MINE), tmp_path / "t")
    data = torch.load(ckpt, weights_only=True)
    assert data["labels"] == list(MY_LABELS)
    assert data["model"]["kwargs"]["num_classes"] == 4
    # eval rebuilds the task from the checkpoint's labels
    assert main(["eval", "--checkpoint", str(ckpt), "--data", str(kw_ds)]) == 0
    out = capsys.readouterr().out
    assert "marvin" in out and "up" not in out.split("per-class")[-1]
    # export: the engine answers with the task's classes
    from bifsmn.engine import Engine, export_checkpoint

    bkws = export_checkpoint(ckpt, tmp_path / "m.bkws")
    assert Engine(bkws).labels == list(MY_LABELS)
    # detection streams hold the model's keywords; a 12-class model beside it is refused
    from bifsmn.detect.evaluate import build_stream
    from bifsmn.detect.scorer import models_task

    assert models_task([ckpt, bkws]) == (4, ("marvin", "yes"))
    ds = SpeechCommands(kw_ds, 4, keywords=MINE)
    st = build_stream(ds, "training", minutes=0.5, snr_db=math.inf, seed=1)
    said = {s.label for s in st.segments if s.label not in (UNKNOWN, "_negative_")}
    assert said and said <= {"marvin", "yes"}
    unknown_words = {Path(s.source).parent.name for s in st.segments if s.label == UNKNOWN}
    assert unknown_words & {"no", "up"} and "marvin" not in unknown_words
    # detection on a file answers with the model's keywords
    import soundfile as sf

    sf.write(tmp_path / "s.wav", st.audio, st.sample_rate)
    capsys.readouterr()
    # (--closest: a model trained one epoch may score below any fixed threshold, as on torch
    # 2.6, whose dropout masks differ from 2.13's; its best window still names its keywords)
    assert main(["detect", "--model", str(bkws), "--threshold", "0.3", "--json", "--closest",
                 str(tmp_path / "s.wav")]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    heard = {r["label"] for r in rows if "label" in r} | {
        r["closest"]["label"] for r in rows if r.get("closest")}
    assert heard and heard <= {"marvin", "yes"}, rows
    # eval-stream and calibrate build their streams from the model's keywords
    out = tmp_path / "es"
    assert main(["eval-stream", "--data", str(kw_ds), "--model", str(bkws), "--minutes", "0.5",
                 "--snr", "clean", "--split", "training", "--out", str(out)]) == 0
    assert " distinct clips), " in capsys.readouterr().err  # how many clips the misses rest on
    truth = (out / "truth_clean.csv").read_text()
    assert "marvin" in truth and ",up," not in truth
    assert main(["calibrate", "--model", str(ckpt), "--data", str(kw_ds), "--minutes", "0.5",
                 "--snr", "clean", "--split", "training"]) == 0
    points = torch.load(ckpt, weights_only=True)["operating_points"]
    assert points["data"]["keywords"] > 0 and points["paths"]["8"]
    assert all(set(p["thresholds"]) == {"marvin", "yes"} for p in points["paths"]["8"])
    capsys.readouterr()
    twelve = _train(_cfg(kw_ds, "dfsmn_teacher"), tmp_path / "t12")
    with pytest.raises(BifsmnError, match="different keywords"):
        models_task([ckpt, twelve])


def test_students_of_keywords_distil_from_a_12_class_teacher(kw_ds, tmp_path, monkeypatch):
    monkeypatch.setenv("BIFSMN_CACHE", str(tmp_path / "cache"))
    teacher = _train(_cfg(kw_ds, "dfsmn_teacher"), tmp_path / "t12")
    student = _train(_cfg(kw_ds, "dfsmn_thinnable", keywords=["no", "yes"], limit_train=48),
                     tmp_path / "s", str(teacher))
    assert torch.load(student, weights_only=True)["labels"] == [UNKNOWN, SILENCE, "no", "yes"]
    from bifsmn.distill.objective import task_merges

    s_merge, t_merge = task_merges([UNKNOWN, SILENCE, "no", "yes"],
                                   torch.load(teacher, weights_only=True), str(teacher))
    assert s_merge is None and t_merge.labels == [UNKNOWN, SILENCE, "no", "yes"]
    assert len(t_merge.members[0]) == 9  # unknown + the eight other commands
    # the teacher has no class for marvin: refused in one line naming the teacher
    with pytest.raises(BifsmnError, match="no common answer to distil .*marvin") as info:
        _train(_cfg(kw_ds, "dfsmn_thinnable", keywords=MINE, limit_train=48), tmp_path / "s2",
               str(teacher))
    assert str(teacher) in str(info.value)


def test_unknown_share_draws_a_fresh_subset_each_epoch(kw_ds, tmp_path, monkeypatch):
    from bifsmn.train.trainer import Trainer

    monkeypatch.setenv("BIFSMN_CACHE", str(tmp_path / "cache"))
    cfg = config_from_dict(_cfg(kw_ds, "dfsmn_teacher", keywords=MINE, unknown_share=0.5))
    t = Trainer(cfg, tmp_path / "u", progress=False)
    t._data()
    unk = t.ds.labels.index(UNKNOWN)
    others = (t.train_labels != unk).sum().item()
    orders = [t._epoch_order(torch.Generator().manual_seed(s)) for s in (1, 2, 1)]
    for order in orders:
        labels = t.train_labels[order]
        assert len(set(order.tolist())) == len(order)  # no clip twice
        assert (labels != unk).sum().item() == others  # every keyword/silence clip, every epoch
        assert (labels == unk).sum().item() == others  # unknown: half of the epoch
    assert set(orders[0].tolist()) != set(orders[1].tolist())  # another unknown subset
    assert torch.equal(orders[0], orders[2])  # seeded
    # off (the default): every clip, the order the trainer always drew
    t.cfg.data.unknown_share = 0.0
    n = len(t.train_labels)
    assert torch.equal(t._epoch_order(torch.Generator().manual_seed(1)),
                       torch.randperm(n, generator=torch.Generator().manual_seed(1)))
    with pytest.raises(BifsmnError, match="data.unknown_share must be in"):
        config_from_dict({"data": {"unknown_share": 1.0}})


def test_archive_keyword_task_and_its_streams(tmp_path):
    from conftest import make_feature_archive

    from bifsmn.data.archive import FeatureArchive
    from bifsmn.detect.feature_streams import ArchiveClips, build_feature_stream

    root = make_feature_archive(tmp_path / "fb", unknown_words=("bed", "marvin"))
    arch = FeatureArchive(root, 4, MINE)
    by_word = {it.word: it.label for it in arch.items("training")}
    assert by_word["marvin"] == 2 and by_word["yes"] == 3 and by_word["bed"] == 0
    assert by_word["no"] == 0 and by_word[SILENCE] == 1  # noise images: silence
    clips = ArchiveClips.load(root, "validation", (4, tuple(MINE)))
    assert clips.keywords == ("marvin", "yes")
    st = build_feature_stream(clips, 1.0, seed=3)
    said = {s.label for s in st.segments if s.label not in (UNKNOWN, "_negative_")}
    assert said and said <= {"marvin", "yes"}


def test_yes_no_on_off_are_words_in_configs(tmp_path):
    """YAML 1.1 reads yes/no/on/off as booleans; configs read YAML 1.2 booleans (true/false)."""
    from bifsmn.train.config import load_config

    cfg = load_config(None, ["data.keywords=[yes,no,on,off]", "train.compile=true"])
    assert cfg.data.keywords == ["yes", "no", "on", "off"] and cfg.train.compile is True
    f = tmp_path / "c.yaml"
    f.write_text("data:\n  keywords: [yes, off]\n  augment: false\n")
    cfg = load_config(f)
    assert cfg.data.keywords == ["yes", "off"] and cfg.data.augment is False
    with pytest.raises(BifsmnError, match="must be bool"):
        load_config(None, ["data.augment=yes"])  # a word, not a boolean, now


def test_a_keyword_no_training_clip_has_is_refused(kw_ds, tmp_path, monkeypatch):
    from bifsmn.train.trainer import Trainer

    monkeypatch.setenv("BIFSMN_CACHE", str(tmp_path / "cache"))
    cfg = config_from_dict(_cfg(kw_ds, "dfsmn_teacher", keywords=["zebra", "yes"]))
    with pytest.raises(BifsmnError, match="data.keywords: no clip of zebra in split "
                                          "'training'.*case-sensitive"):
        Trainer(cfg, tmp_path / "x", progress=False)._data()
    # a folder of the word in another case is named as such, before any split is built
    cfg = config_from_dict(_cfg(kw_ds, "dfsmn_teacher", keywords=["Marvin", "yes"]))
    with pytest.raises(BifsmnError, match="word folder 'marvin' differs from the class "
                                          "'Marvin' only in case"):
        Trainer(cfg, tmp_path / "y", progress=False)._data()


def test_keyword_tasks_select_on_balanced_accuracy(kw_ds, tmp_path, monkeypatch):
    monkeypatch.setenv("BIFSMN_CACHE", str(tmp_path / "cache"))
    ckpt = _train(_cfg(kw_ds, "dfsmn_teacher", keywords=MINE), tmp_path / "t")
    summary = json.loads((tmp_path / "t" / "summary.json").read_text())
    assert summary["selected_on"] == "val_bacc"
    import csv

    row = next(csv.DictReader((tmp_path / "t" / "metrics.csv").open()))
    assert 0.0 <= float(row["val_bacc_8"]) <= 1.0
    assert summary["best_val_acc"] == pytest.approx(float(row["val_bacc_8"]))
    assert ckpt.is_file()
    with pytest.raises(BifsmnError, match="train.select_on must be auto, accuracy or balanced"):
        config_from_dict({"train": {"select_on": "f1"}})


def test_a_37_class_checkpoint_starts_a_keyword_model_sensibly():
    src = list(LABELS_37)
    state = {"classifier.weight": torch.arange(37.0)[:, None].repeat(1, 2),
             "classifier.bias": torch.arange(37.0)}
    own = {"classifier.weight": torch.full((4, 2), -1.0), "classifier.bias": torch.full((4,), -1.0)}
    out = classifier_by_name(state, own, src, list(MY_LABELS))
    # _unknown_ keeps the model's row (the 37-class row scores only the leftovers), marvin
    # takes _unknown_:marvin's, silence and yes their own
    assert out["classifier.bias"].tolist() == [-1.0, 1.0, float(src.index("_unknown_:marvin")),
                                              float(src.index("yes"))]


def test_unknown_share_counts_the_37_class_unknown_group(tmp_path):
    from types import SimpleNamespace

    from bifsmn.train.trainer import Trainer

    labels = torch.tensor([0] * 4 + [LABELS_37.index("_unknown_:bed")] * 36 + [2] * 10)
    fake = SimpleNamespace(cfg=config_from_dict({"data": {"num_classes": 37,
                                                          "unknown_share": 0.5}}),
                           train_waves=labels, train_labels=labels,
                           ds=SimpleNamespace(labels=LABELS_37))
    order = Trainer._epoch_order(fake, torch.Generator().manual_seed(0))
    picked = labels[order]
    assert (picked == 2).sum() == 10 and len(order) == 20  # 10 unknown-group clips of 40


def test_scale_table_names_a_keyword_task(tmp_path):
    from bifsmn.scale_report import write_table

    rows = [{"model": m, "blocks": 8, "validation_acc": 0.9, "testing_acc": 0.9, "task": t}
            for m, t in (("kw", "keywords marvin, sheila (4 classes)"), ("t12", "12 classes"))]
    text = write_table(rows, tmp_path / "a", "cmd")
    assert "Tasks the accuracies count: kw: keywords marvin, sheila (4 classes); t12: 12 " \
        "classes." in text
    assert "Tasks" not in write_table(rows[1:], tmp_path / "b", "cmd")
