"""The benchmark runs end to end on random models and writes a well-formed report.

Timings are not asserted (the machine is shared and tiny run counts are noise); only the
structure of bench.md / bench.json / bench.png is.
"""

from __future__ import annotations

import json

import pytest

from bifsmn.cli import main
from bifsmn.engine.testing import make_checkpoint


@pytest.mark.slow
def test_bench_smoke(tmp_path, capsys) -> None:
    binary = make_checkpoint(tmp_path / "bin.pt", "bifsmnv2", seed=1)
    teacher = make_checkpoint(tmp_path / "teacher.pt", "dfsmn_teacher", seed=2)
    out = tmp_path / "bench"
    rc = main(["bench", "--binary", str(binary), "--teacher", str(teacher), "--out", str(out),
               "--runs", "3", "--warmup", "1"])
    assert rc == 0
    printed = capsys.readouterr().out
    md = (out / "bench.md").read_text()
    assert md in printed
    res = json.loads((out / "bench.json").read_text())
    # the report names what it measured on: the CPU and the engine's compiler
    built_with = res["machine"]["engine_compiler"]
    assert built_with.startswith(("GCC ", "clang ")) and f"engine built with {built_with}" in md
    assert (out / "bench.png").stat().st_size > 1000
    # the roofline's stage times are set beside the unprofiled network time they come from
    roof = res["roofline"]
    assert roof["profiled_network_us"] >= roof["binary_layers_us"] > 0
    assert f"together {roof['profiled_network_us']:.1f} µs against" in md
    # the timed exports went to a temporary folder: the results folder holds the report only
    assert sorted(p.name for p in out.iterdir()) == ["bench.json", "bench.md", "bench.png"]
    names = [r["name"] for r in res["rows"]]
    assert names[:3] == ["PyTorch eager FP32 teacher", "ONNX Runtime FP32 teacher",
                         "engine FP32 teacher"]
    assert names[3:] == [f"engine binary bifsmnv2, {b} blocks" for b in (8, 4, 2, 1)]
    for r in res["rows"]:
        if r["name"].startswith("ONNX") and r["network_us"] is None:
            assert r["note"]  # the reason ORT is missing is stated
            continue
        assert r["network_us"] > 0 and r["end_to_end_us"] > 0
    # Markdown tables: every row of a table has the header's column count
    tables: list[list[str]] = []
    for line in md.splitlines():
        if line.startswith("|"):
            if not tables or not tables[-1]:
                tables.append([])
            tables[-1].append(line)
        elif tables and tables[-1]:
            tables.append([])
    tables = [t for t in tables if t]
    assert len(tables) == 3
    for t in tables:
        cols = {row.count("|") for row in t}
        assert len(cols) == 1, t
        assert set(t[1].replace("|", "").replace("-", "").replace(":", "").strip()) == set()
    assert len(tables[0]) == 2 + len(res["rows"])
    # the fastest-calls ratio is ORT's fastest call over the row's (ORT itself: 1.00x)
    ort = next(r for r in res["rows"] if r["name"].startswith("ONNX"))
    if ort["network_best_us"]:
        for r, line in zip(res["rows"], tables[0][2:], strict=True):
            want = ort["network_best_us"] / r["network_best_us"]
            assert line.split("|")[6].strip() == f"{want:,.2f}x", line
    s = res["sizes"]
    assert s["bkws_bytes"]["binary_1"] < s["bkws_bytes"]["binary"]
    assert s["bkws_bytes"]["binary_compact"] < s["bkws_bytes"]["binary"]
    assert s["bkws_bytes"]["binary_small"] < s["bkws_bytes"]["binary_compact"]
    assert "`--compact`" in md and "`--storage small`" in md
    assert s["teacher_state_dict_fp32_bytes"] > 2_000_000
    assert res["roofline"]["peak_gbops"] > 0 and res["roofline"]["bops_per_clip"] > 1e6
    assert set(res["targets"]) == {
        "binary 8 blocks vs ORT FP32 teacher", "binary 8 blocks vs engine FP32 teacher",
        "binary 2 blocks vs ORT FP32 teacher", "binary layers, fraction of popcount roofline",
        "popcount GEMM calls, fraction of popcount roofline", ".bkws size vs FP32 teacher weights",
        "binary 8 blocks end to end vs ORT FP32 teacher end to end",
        "C++ front end, one 1-s clip (µs)", "streaming real-time factor, 8 blocks, 100 ms hop"}
    # the front end is timed on its own (not end to end minus network), and that is the target
    fe = res["frontend_us"]
    assert 0 < fe["fastest"] <= fe["median"] == min(fe["medians"])
    assert res["targets"]["C++ front end, one 1-s clip (µs)"]["measured"] == fe["median"]
    gemm = res["targets"]["popcount GEMM calls, fraction of popcount roofline"]
    assert gemm["measured"] == res["roofline"]["gemm_fraction"] and gemm["target"] == 0.75
    st = res["streaming"]
    assert st["shared_rows_us_per_hop"] > 0 and st["full_windows_us_per_hop"] > 0
    # 100 ms is not a whole number of 512-sample log-mel hops: shared rows also at 1536 samples
    assert st["front_end"] == "logmel32" and st["aligned_hop_samples"] == 1536
    assert st["aligned_shared_us_per_hop"] > 0 and "with a 1536-sample hop" in md
    assert st["frontend_hop_samples"] == 1536 and st["frontend_us_per_hop"] > 0
    assert "per 1536-sample hop** of a stream" in md
    assert "smoke test, not a measurement" in md


@pytest.mark.slow
def test_bench_repeat_interleaved(tmp_path, monkeypatch) -> None:
    """--repeat K: every measurement K times, rows interleaved, minimum of the K medians."""
    import bifsmn.engine.bench as bench

    order: list[str] = []
    orig_run = bench._Interleaved.run

    def spy_run(self, repeat: int) -> None:
        fns = dict(self.fns)
        for name, fn in fns.items():
            def wrapped(name=name, fn=fn):
                order.append(name)
                return fn()
            self.fns[name] = wrapped
        orig_run(self, repeat)

    monkeypatch.setattr(bench._Interleaved, "run", spy_run)
    binary = make_checkpoint(tmp_path / "bin.pt", "bifsmnv2", seed=1)
    teacher = make_checkpoint(tmp_path / "teacher.pt", "dfsmn_teacher", seed=2)
    out = tmp_path / "bench"
    assert main(["bench", "--binary", str(binary), "--teacher", str(teacher), "--out", str(out),
                 "--runs", "2", "--warmup", "0", "--repeat", "3", "--keep-models"]) == 0
    kept = {p.name for p in (out / "models").iterdir()}
    assert {"teacher.bkws", "binary.bkws", "binary_8.bkws", "binary_compact.bkws"} <= kept
    n = len(order) // 3
    assert len(order) == 3 * n and order[:n] == order[n:2 * n] == order[2 * n:]  # A1 B1 .. A2 B2
    assert len(set(order[:n])) == n
    res = json.loads((out / "bench.json").read_text())
    assert res["repeat"] == 3
    for r in res["rows"]:
        if r["network_us"] is None:
            continue
        assert len(r["network_medians_us"]) == 3
        assert r["network_us"] == min(r["network_medians_us"])
    assert len(res["roofline"]["peak_runs_gbops"]) == 3
    assert res["roofline"]["peak_gbops"] == max(res["roofline"]["peak_runs_gbops"])
    md = (out / "bench.md").read_text()
    assert "minimum of 3 such medians, rows measured interleaved" in md
    assert all(k in md for k in res["targets"])


def test_bench_rejects_bad_repeat(tmp_path, capsys) -> None:
    assert main(["bench", "--binary", "x.pt", "--teacher", "y.pt", "--out", str(tmp_path / "b"),
                 "--repeat", "0"]) == 2
    assert "--repeat must be at least 1" in capsys.readouterr().err
    assert main(["bench", "--binary", "x.pt", "--teacher", "y.pt", "--out", str(tmp_path / "b"),
                 "--warmup", "-1"]) == 2
    assert "--warmup must be at least 0 (got -1)" in capsys.readouterr().err
    parent = tmp_path / "f.txt"
    parent.write_text("x")
    assert main(["bench", "--binary", "x.pt", "--teacher", "y.pt", "--out",
                 str(parent / "sub")]) == 2  # a file as parent: one line, no traceback
    err = capsys.readouterr().err.strip()
    assert err.startswith("bifsmn: error:") and "\n" not in err, err
    assert "cannot create the results folder (--out)" in err, err


def test_bench_rejects_fp_as_binary(tmp_path, capsys) -> None:
    teacher = make_checkpoint(tmp_path / "teacher.pt", "dfsmn_teacher", seed=2)
    rc = main(["bench", "--binary", str(teacher), "--teacher", str(teacher),
               "--out", str(tmp_path / "b"), "--runs", "1"])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bifsmn: error:") and "\n" not in err, err
    assert str(teacher) in err and "--binary must be a binarized checkpoint" in err, err


def test_bench_rejects_binary_as_teacher_and_bad_out(tmp_path, capsys) -> None:
    # every ratio of the report is to --teacher: a binary one would make them all meaningless
    binary = make_checkpoint(tmp_path / "bin.pt", "bifsmnv2", seed=1)
    args = ["bench", "--binary", str(binary), "--runs", "1"]
    assert main([*args, "--teacher", str(binary), "--out", str(tmp_path / "b")]) == 2
    assert "--teacher must be a full-precision checkpoint" in capsys.readouterr().err
    assert main([*args, "--teacher", str(binary), "--out", str(binary)]) == 2
    assert f"{binary}: the results folder (--out) is an existing file" in capsys.readouterr().err
    assert main([*args, "--teacher", str(binary), "--out", str(tmp_path / "c"),
                 "--runs", "0"]) == 2
    assert "--runs must be at least 1" in capsys.readouterr().err


def test_export_cli(tmp_path, capsys) -> None:
    ckpt = make_checkpoint(tmp_path / "m.pt", "bifsmn_v1", seed=3)
    # a trailing separator: refused, nothing written (Path() would have dropped it)
    assert main(["export", str(ckpt), "-o", str(tmp_path / "newdir") + "/"]) == 2
    assert "output path ends in a separator" in capsys.readouterr().err
    assert not (tmp_path / "newdir").exists()
    # a checkpoint's name for an engine file: refused before anything is built or written
    for name in ("new.pt", "new.PTH", "new.ckpt"):
        assert main(["export", str(ckpt), "-o", str(tmp_path / name)]) == 2
        assert "the output is a .bkws engine file" in capsys.readouterr().err
        assert not (tmp_path / name).exists()
    assert main(["export", str(ckpt), "-o", str(tmp_path / "m.bkws"), "--blocks", "2"]) == 0
    out = capsys.readouterr().out
    assert "kind bifsmn_v1, blocks 2" in out and (tmp_path / "m.bkws").is_file()
    assert main(["export", str(tmp_path / "missing.pt"), "-o", str(tmp_path / "x.bkws")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    # -o into folders that do not exist yet: they are created (documented in `export -h`)
    nested = tmp_path / "new" / "deeper" / "m.bkws"
    assert main(["export", str(ckpt), "-o", str(nested), "--blocks", "2"]) == 0
    assert nested.is_file() and nested.read_bytes() == (tmp_path / "m.bkws").read_bytes()
    # an older .bkws is replaced; a recording or a checkpoint given as -o by mistake is not
    assert main(["export", str(ckpt), "-o", str(nested)]) == 0
    capsys.readouterr()
    take = tmp_path / "take1.wav"
    take.write_bytes(b"RIFF" + bytes(40))
    assert main(["export", str(ckpt), "-o", str(take)]) == 2
    assert f"{take}: exists and holds audio, not a .bkws file" in capsys.readouterr().err
    assert take.read_bytes() == b"RIFF" + bytes(40)
    assert main(["export", str(ckpt), "-o", str(ckpt)]) == 2  # the input itself
    capsys.readouterr()
    other = tmp_path / "other.pt"
    other.write_bytes(ckpt.read_bytes())
    assert main(["export", str(ckpt), "-o", str(other)]) == 2
    assert "holds a PyTorch checkpoint" in capsys.readouterr().err
    # options named for what the user typed
    teacher = make_checkpoint(tmp_path / "t.pt", "dfsmn_teacher", seed=2)
    assert main(["export", str(teacher), "-o", str(tmp_path / "t.bkws"), "--compact"]) == 2
    assert "--compact applies to binary models only" in capsys.readouterr().err
    assert main(["export", str(ckpt), "-o", str(tmp_path / "e.bkws"), "--storage", ""]) == 2
    assert "empty storage plan" in capsys.readouterr().err


def test_time_frontend_times_the_front_end_alone(tmp_path) -> None:
    """Engine.time_frontend: one wall time per run of audio -> features; features refused."""
    import numpy as np

    from bifsmn.engine import Engine, export_checkpoint
    from bifsmn.errors import BifsmnError

    ckpt = make_checkpoint(tmp_path / "bin.pt", "bifsmnv2", seed=1)
    eng = Engine(export_checkpoint(ckpt, tmp_path / "bin.bkws"))
    audio = np.random.default_rng(0).uniform(-0.1, 0.1, (2, 16000)).astype(np.float32)
    t = eng.time_frontend(audio, runs=3, warmup=1)
    assert t.shape == (3,) and (t > 0).all()
    with pytest.raises(BifsmnError, match="time_frontend needs audio clips"):
        eng.time_frontend(eng.features(audio), runs=1, warmup=0)


def test_a_missed_goal_never_reads_as_met():
    """The measured cell gets more decimals where rounding would show a missed goal as
    reached (11.996x printed "12.00x" beside "no")."""
    from bifsmn.engine.bench import _shown

    ratio = {"at_most": False, "met": False}
    assert _shown(11.996, 12.0, ratio, 2) == "11.996"
    assert _shown(11.5, 12.0, ratio, 2) == "11.50"
    assert _shown(12.004, 12.0, {"at_most": False, "met": True}, 2) == "12.00"
    most = {"at_most": True, "met": False}
    assert _shown(15.04, 15.0, most, 1) == "15.04"
    assert _shown(0.0020004, 0.002, most, 5) == "0.0020004"
