"""Speech Commands layouts, splits, label protocols and the on-disk cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bifsmn.data.cache import load_features, load_waves
from bifsmn.data.labels import LABELS_12, LABELS_35
from bifsmn.data.speech_commands import SpeechCommands, parse_name
from bifsmn.errors import BifsmnError


def test_parse_name_both_layouts():
    assert parse_name("yes/0a7c2a8d_nohash_0.wav") == ("yes", "0a7c2a8d")
    assert parse_name("_unknown_/backward_0c540988_nohash_0.wav.wav") == ("backward", "0c540988")
    assert parse_name("_silence_/1037.wav") == ("_silence_", None)


def test_full_layout_reference_protocol(full_ds: Path):
    ds = SpeechCommands(full_ds, 12)
    assert ds.layout == "full" and ds.protocol == "reference"
    train, val, test = ds["training"], ds["validation"], ds["testing"]
    # 12 words x 6 clips: one per word in val, one in test, the rest is training
    real = [it for it in train if it.path]
    assert len(real) == 12 * 4
    assert {Path(it.path).name for it in real}.isdisjoint(
        {Path(it.path).name for it in val + test if it.path})
    # every non-command word is unknown; 10% all-zero silence appended to each split
    assert {it.label for it in real if it.word in ("bed", "cat")} == {0}
    silence = [it for it in train if it.path is None]
    assert len(silence) == int(0.1 * len(real)) and all(it.label == 1 for it in silence)
    assert len([it for it in val if it.path is None]) == int(0.1 * 12)
    assert all(it.speaker and len(it.speaker) == 8 for it in real)


def test_full_layout_standard_protocol(full_ds: Path, cache_dir: Path):
    ds = SpeechCommands(full_ds, 12, protocol="standard")
    train = ds["training"]
    keywords = [it for it in train if it.word in LABELS_12[2:]]
    unknown = [it for it in train if it.label == 0]
    silence = [it for it in train if it.label == 1]
    assert len(unknown) == round(0.1 * len(keywords)) == len(silence)
    assert all(it.noise is not None for it in silence)
    waves, _ = load_waves(ds, "training", cache_dir, progress=False)
    sil_rows = [i for i, it in enumerate(train) if it.label == 1]
    assert all(waves[i].abs().sum() > 0 for i in sil_rows)  # cut from noise, not zeros
    # the subsample is seeded: same seed, same split
    assert [it.path for it in SpeechCommands(full_ds, 12, "standard")["training"]] == \
        [it.path for it in train]


def test_standard_silence_from_noise_recorded_at_another_rate(full_ds: Path, cache_dir: Path):
    """A 44.1 kHz _background_noise_ file: window starts index the recording as decoded at
    16 kHz, so no silence item falls past its end (they were mostly all zeros)."""
    rng = np.random.default_rng(3)
    noise = full_ds / "_background_noise_" / "white.wav"
    sf.write(str(noise), (0.1 * rng.standard_normal(44100 * 3)).astype(np.float32), 44100)
    ds = SpeechCommands(full_ds, 12, protocol="standard")
    waves, _ = load_waves(ds, "training", cache_dir, progress=False)
    rows = [i for i, it in enumerate(ds["training"]) if it.label == 1]
    assert rows and all(it.noise[1] + 16000 <= 3 * 16000 for it in ds["training"]
                        if it.label == 1)
    assert all((waves[i] == 0).float().mean() < 0.01 for i in rows)


def test_lists_that_repeat_or_share_clips_are_refused(full_ds: Path):
    """A clip listed twice counts twice; one on two splits is scored where it was trained or
    selected: both are one-line errors naming the list and the clip."""
    val = (full_ds / "validation_list.txt").read_text().split()
    test = (full_ds / "testing_list.txt").read_text().split()
    (full_ds / "validation_list.txt").write_text("\n".join([*val, val[0]]) + "\n")
    with pytest.raises(BifsmnError, match=f"validation_list.txt: lists '{val[0]}' twice"):
        SpeechCommands(full_ds, 12)
    (full_ds / "validation_list.txt").write_text("\n".join([*val, test[0]]) + "\n")
    with pytest.raises(BifsmnError, match="validation_list.txt and testing_list.txt both list"):
        SpeechCommands(full_ds, 12)
    (full_ds / "validation_list.txt").write_text("\n".join(val) + "\n")
    (full_ds / "training_list.txt").write_text("\n".join([val[1], "yes/" + Path(
        next((full_ds / "yes").glob("*.wav"))).name]) + "\n")
    with pytest.raises(BifsmnError, match="training_list.txt and validation_list.txt"):
        SpeechCommands(full_ds, 12)
    (full_ds / "training_list.txt").unlink()
    clip = next((full_ds / "no").glob("*.wav"))
    clip.rename(clip.with_suffix(".WAV"))  # there, but not a clip the scan takes
    (full_ds / "testing_list.txt").write_text(f"no/{clip.stem}.WAV\n")
    with pytest.raises(BifsmnError, match="which is not a clip of a word folder"):
        SpeechCommands(full_ds, 12)


def test_an_unknown_folder_added_to_a_full_data_set_keeps_it_full(full_ds: Path):
    """Only both official folders (_unknown_ and _silence_) make a test archive: an added
    _unknown_/ of other words joins the full layout's training split as unknown."""
    from conftest import tone, write_wav

    rel = "_unknown_/hello_0badcafe_nohash_0.wav"
    write_wav(full_ds / rel, tone("hello", np.random.default_rng(0)))
    ds = SpeechCommands(full_ds, 12)
    assert ds.layout == "full" and ds.protocol == "reference"
    added = [it for it in ds["training"] if it.path == str(full_ds / rel)]
    assert [(it.word, it.label) for it in added] == [("hello", 0)]
    assert any(it.label == 1 for it in ds["training"])  # silence items still appended


def test_a_class_folder_in_another_case_is_refused(full_ds: Path):
    (full_ds / "yes").rename(full_ds / "Yes")
    with pytest.raises(BifsmnError, match="word folder 'Yes' differs from the class 'yes' "
                                          r".*\(rename it yes/\)"):
        SpeechCommands(full_ds, 12)
    (full_ds / "yes").mkdir()  # both spellings: the stray one is named, not the class's own
    first = next((full_ds / "Yes").glob("*.wav"))
    first.rename(full_ds / "yes" / first.name)
    with pytest.raises(BifsmnError, match=r"word folder 'Yes' .*\(move its clips into yes/\)"):
        SpeechCommands(full_ds, 12, protocol="reference")


def test_keywords_that_differ_in_case_are_each_a_class(full_ds: Path):
    """Two keywords in two cases are two classes with their own folders: neither folder is
    refused as the other's misspelling."""
    from conftest import tone, write_wav

    rng = np.random.default_rng(1)
    for word in ("bed", "Bed"):
        write_wav(full_ds / word / f"{word.lower()}0cafe_nohash_{len(word)}.wav", tone("bed", rng))
    ds = SpeechCommands(full_ds, 4, keywords=("bed", "Bed"))
    assert {"bed", "Bed"} <= set(ds.labels)


def test_35_class_task_drops_nothing_known(full_ds: Path):
    ds = SpeechCommands(full_ds, 35)
    items = ds["training"]
    assert all(LABELS_35[it.label] == it.word for it in items)
    assert not any(it.path is None for it in items)


def test_test_archive_layout_and_default_split(tmp_path: Path):
    from conftest import make_test_archive

    root = make_test_archive(tmp_path / "arch")
    ds = SpeechCommands(root, 12)
    assert ds.layout == "test-archive" and ds.protocol == "archive"
    assert ds.default_eval_split() == "all"
    items = ds["all"]
    assert {LABELS_12[it.label] for it in items} == set(LABELS_12)
    assert all(it.path for it in items)  # silence comes from the archive's own folder
    assert {it.word for it in items if it.label == 0} == {"bed"}


def test_35_class_task_on_the_test_archive_says_what_it_skips(tmp_path: Path, caplog):
    from conftest import make_test_archive

    root = make_test_archive(tmp_path / "arch")
    skipped = len(list((root / "_silence_").glob("*.wav")))  # _unknown_/ clips keep words
    assert skipped
    with caplog.at_level("WARNING", logger="bifsmn"):
        ds = SpeechCommands(root, 35)
    notes = [r.getMessage() for r in caplog.records]
    assert any(f"no class for the archive's {skipped} clips in _silence_/: they are skipped"
               in m for m in notes), notes
    assert len(ds["all"]) == len(ds._files) - skipped
    caplog.clear()
    with caplog.at_level("WARNING", logger="bifsmn"):
        SpeechCommands(root, 12)  # the 12-class task scores them: nothing to say
    assert not caplog.records


def test_training_list_is_honoured(archive_ds: Path):
    ds = SpeechCommands(archive_ds, 12)
    listed = set((archive_ds / "training_list.txt").read_text().split())
    got = {str(Path(it.path).relative_to(archive_ds)) for it in ds["training"]}
    assert got == listed
    assert ds.default_eval_split() == "validation"


def test_cache_is_reused_and_invalidated(full_ds: Path, cache_dir: Path):
    ds = SpeechCommands(full_ds, 12)
    f1, y1 = load_features(ds, "validation", cache_dir=cache_dir, progress=False)
    files = sorted(cache_dir.glob("*.npy"))
    assert len(files) == 2  # decoded waves + features
    f2, _ = load_features(ds, "validation", cache_dir=cache_dir, progress=False)
    assert np.array_equal(f1.numpy(), f2.numpy())
    assert sorted(cache_dir.glob("*.npy")) == files  # hit: nothing new written
    # changing a file changes the key
    first = next(it for it in ds["validation"] if it.path)
    sf.write(first.path, np.zeros(16000, np.float32), 16000, subtype="PCM_16")
    f3, _ = load_features(SpeechCommands(full_ds, 12), "validation", cache_dir=cache_dir,
                          progress=False)
    # ... and the new entries replace the old ones of the same slot instead of piling up
    new = sorted(cache_dir.glob("*.npy"))
    assert len(new) == 2 and not set(new) & set(files)
    assert len(list(cache_dir.glob("*.json"))) == 2
    assert not np.array_equal(f1.numpy(), f3.numpy())
    assert y1.tolist() == [it.label for it in ds["validation"]]


def test_cache_key_does_not_depend_on_how_the_path_is_spelled(full_ds: Path, cache_dir: Path,
                                                                monkeypatch):
    """``data``, ``./data/`` and the absolute path are one data set: one entry, read back."""
    monkeypatch.chdir(full_ds.parent)
    names = set()
    for root in (full_ds, f"./{full_ds.name}/", full_ds.name):
        load_waves(SpeechCommands(root, 12), "validation", cache_dir, progress=False)
        names |= {p.name for p in cache_dir.glob("waves-*.npy")}
    assert len(names) == 1  # one key: never rebuilt, never evicted


def test_cache_slots_prune_only_their_own_kind(full_ds: Path, cache_dir: Path, capsys):
    """A re-mounted data folder (new mtimes only) replaces its entries; another split, another
    feature setting and an entry from an older version are kept; the CLI lists and clears."""
    import os

    from bifsmn.cli import main
    from bifsmn.data.features import FeatureConfig

    ds = SpeechCommands(full_ds, 12)
    load_features(ds, "validation", cache_dir=cache_dir, progress=False)
    load_waves(ds, "training", cache_dir, progress=False)
    load_features(ds, "validation", FeatureConfig(n_mels=20), cache_dir=cache_dir,
                  progress=False)
    legacy = cache_dir / "waves-0123456789abcdef01234567.npy"
    np.save(legacy, np.zeros(3, np.int16))
    before = {p.name for p in cache_dir.glob("*.npy")}
    assert len(before) == 5  # val waves, val feats, val feats 20 mels, training waves, legacy
    for it in ds["validation"]:  # same bytes, new mtimes
        if it.path:
            os.utime(it.path, ns=(1_000_000_000, 1_000_000_000))
    load_features(SpeechCommands(full_ds, 12), "validation", cache_dir=cache_dir,
                  progress=False)
    after = {p.name for p in cache_dir.glob("*.npy")}
    assert len(after) == 5 and len(after - before) == 2  # waves + 32-mel feats replaced
    kept = before & after
    assert legacy.name in kept and any(n.startswith("waves-") and n != legacy.name
                                       for n in kept)  # training waves

    assert main(["data", "cache", "--dir", str(cache_dir)]) == 0
    out = capsys.readouterr().out
    assert "5 entries" in out and "(no sidecar)" in out and "feats validation of" in out
    assert main(["data", "cache", "--dir", str(cache_dir), "--clear-unslotted"]) == 0
    assert not legacy.exists() and len(list(cache_dir.glob("*.npy"))) == 4
    # temp files of writes killed long ago: listed, and --clear deletes them; a recent one
    # may be a writer still running and is kept
    old = cache_dir / ".waves-x.npy.4242.abcdefgh.tmp"
    new = cache_dir / ".feats-y.npy.4243.abcdefgh.tmp"
    old.write_bytes(b"0" * 10000)
    new.write_bytes(b"1")
    os.utime(old, (1_000_000_000, 1_000_000_000))
    assert main(["data", "cache", "--dir", str(cache_dir)]) == 0
    assert "1 temp file of killed writes" in capsys.readouterr().out
    assert main(["data", "cache", "--dir", str(cache_dir), "--clear"]) == 0
    assert "deleted 4 entries" in capsys.readouterr().out
    assert list(cache_dir.iterdir()) == [new]  # the old temp file went too


def test_unknown_split_and_protocol(full_ds: Path):
    with pytest.raises(BifsmnError, match="unknown protocol"):
        SpeechCommands(full_ds, 12, protocol="weird")
    with pytest.raises(BifsmnError, match="unknown split"):
        SpeechCommands(full_ds, 12).items("train")
    with pytest.raises(BifsmnError, match="unsupported task"):
        SpeechCommands(full_ds, 20)


def test_other_audio_in_word_folders_is_named_not_read(tmp_path: Path, caplog):
    """``yes/a.WAV`` or ``no/b.flac`` are not clips of the layout: skipped with one warning
    and a count (they vanished without a word); macOS ``._x.wav`` files are not clips."""
    from conftest import make_full_dataset

    root = make_full_dataset(tmp_path / "sc", per_word=3)
    with caplog.at_level("WARNING", logger="bifsmn"):
        n = len(SpeechCommands(root, 12)._files)
    assert not caplog.records
    src = next((root / "yes").glob("*.wav"))
    (root / "yes" / "upper.WAV").write_bytes(src.read_bytes())
    (root / "no").mkdir(exist_ok=True)
    (root / "no" / "b.flac").write_bytes(src.read_bytes())
    (root / "yes" / "._x.wav").write_bytes(b"\x00\x05\x16\x07")  # AppleDouble, not audio
    (root / "yes" / "notes.txt").write_text("not audio")
    with caplog.at_level("WARNING", logger="bifsmn"):
        ds = SpeechCommands(root, 12)
    assert len(ds._files) == n
    notes = [r.getMessage() for r in caplog.records]
    assert any("2 audio files in word folders not named *.wav" in m for m in notes), notes


def test_a_damaged_entry_in_a_read_only_cache_is_not_a_traceback(tmp_path: Path, monkeypatch):
    """Deleting the bad entry fails on a read-only cache: the loader still answers "rebuild"
    (it raised the OSError as a traceback); saving the rebuilt entry then fails in one line,
    as any write to a read-only cache does (README, "Reliability")."""
    from bifsmn.data.cache import load_cached_npy

    bad = tmp_path / "waves-0.npy"
    bad.write_bytes(b"not an array")
    real = Path.unlink

    def refuse(self, missing_ok=False):
        if self == bad:
            raise OSError(30, "Read-only file system")
        return real(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", refuse)
    assert load_cached_npy(bad, (1, 1), np.int16) is None
    assert bad.exists()
