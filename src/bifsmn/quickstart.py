"""``bifsmn quickstart``: the README's main job, end to end on whatever data is at hand.

1. train a short full-precision teacher;
2. train a short BiFSMNv2 1-bit student from it (thinnable 8/4/2/1 blocks, FID distillation);
3. evaluate both on the validation split (every thinnable path of the student);
4. export the student to a bit-packed ``.bkws`` file and check the C++ engine agrees;
5. benchmark PyTorch / ONNX Runtime / engine FP32 / engine binary, batch 1, one thread;
6. run the bundled (calibrated) detector on a stream of validation clips;

then print one summary table and the run folder. Every stage resumes or reuses what a previous
quickstart in the same folder finished. Without ``--data`` it downloads Speech Commands v0.02
first (only where a network exists).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import cast

import numpy as np
import soundfile as sf

from bifsmn.audio import load_audio
from bifsmn.data.cache import load_features
from bifsmn.data.download import download_speech_commands
from bifsmn.data.labels import COMMANDS
from bifsmn.data.speech_commands import SpeechCommands
from bifsmn.detect import Detector
from bifsmn.engine import Engine, export_checkpoint
from bifsmn.engine.bench import run_bench
from bifsmn.errors import BifsmnError
from bifsmn.evaluate import accuracies
from bifsmn.outputs import check_folder_path, make_folder
from bifsmn.train.config import Config, load_config, resolve_config, set_teacher
from bifsmn.train.reuse import train_or_reuse_noting


def _train(cfg: Config, run: Path) -> dict:
    """Train ``run`` or reuse it: only a finished run of this very config (data, epochs,
    teacher) is reused, a partial one resumed, any other moved aside to ``.stale``
    (:mod:`bifsmn.train.reuse`), so a rerun with other ``--data`` or ``--epochs`` never
    reports an old run as its own."""
    how, stale = train_or_reuse_noting(cfg, run)
    moved = f"; an earlier run with other settings moved to {stale}" if stale else ""
    print(f"{run}: {how}{moved}", flush=True)
    if how == "diverged":
        raise BifsmnError("training diverged (non-finite loss); see its metrics.csv", run)
    return json.loads((run / "summary.json").read_text())


def _demo_stream(data: str, out: Path) -> tuple[Path, list, list]:
    """A stream built from validation keyword clips and other words, 1 s of silence between
    them, written to ``out/demo.wav``. Returns (file, clips in order, keyword clips)."""
    items = [it for it in SpeechCommands(data, 12).items("validation") if it.path]
    kws = [it for it in items if it.word in COMMANDS][::37][:5]
    others = [it for it in items if it.word not in COMMANDS and it.word != "_silence_"][:2]
    order = kws[:2] + others[:1] + kws[2:4] + others[1:] + kws[4:]
    gap = np.zeros(16000, np.float32)
    audio = np.concatenate([np.concatenate([gap, load_audio(cast(str, it.path))]) for it in order]
                           + [gap])
    wav = out / "demo.wav"
    sf.write(str(wav), audio, 16000)
    return wav, order, kws


def _detect_demo(wav: Path, order: list, kws: list, verifier: str | None = None
                 ) -> tuple[int, int, str, str]:
    """The demo stream through the bundled (calibrated) model at its stored 1 FA/h operating
    point (``verifier="bundled"``: as the first stage of the bundled two-stage detector, at the
    points it stores for that). Returns (keywords found, keywords said, "said ... | heard ...",
    operating point)."""
    det = Detector(blocks=8, verifier=verifier)  # the bundled model and its stored point
    events = det.detect_file(wav)
    said = [it.word if it.word in COMMANDS else f"({it.word})" for it in order]
    heard = [e.label for e in events]
    words = [it.word for it in kws]
    hits = sum(min(words.count(w), heard.count(w)) for w in set(words))
    point = (f"{det.operating_point['fa_per_hour']:g} FA/h point" if det.operating_point
             else det.threshold_source)
    return hits, len(kws), f"said {' '.join(said)} | heard {' '.join(heard) or '-'}", point


def quickstart(data: str | None, out: Path, epochs: int = 20, root: Path = Path("data"),
               student_epochs: int = 8, bench_runs: int = 50) -> dict:
    """Run the quickstart pipeline; returns the summary rows."""

    check_folder_path(out, "quickstart folder")  # before a download or any decoding
    if data is None:
        data = str(download_speech_commands("v0.02", root, progress=sys.stderr.isatty()))
    t0 = time.time()
    make_folder(out, "quickstart folder")
    rows: list[tuple[str, ...]] = []

    cfg = load_config(resolve_config("teacher"), [f"train.epochs={epochs}"])
    cfg.data.root = str(data)
    summary = _train(cfg, out / "teacher")
    teacher = out / "teacher" / "best.pt"
    acc_t = accuracies(teacher, data, [8])[8]
    rows.append(("FP32 teacher", f"{epochs} epochs", f"{100 * acc_t:.2f}%",
                 f"{summary['train_wall_s'] / max(1, epochs):.1f} s/epoch"))

    cfg = load_config(resolve_config("bifsmnv2"), [f"train.epochs={student_epochs}"])
    cfg.data.root = str(data)
    set_teacher(cfg, teacher)
    summary = _train(cfg, out / "bifsmnv2")
    student = out / "bifsmnv2" / "best.pt"
    accs = accuracies(student, data, [8, 4, 2, 1])
    rows.append(("BiFSMNv2 1-bit student", f"{student_epochs} epochs",
                 " / ".join(f"{100 * accs[b]:.1f}" for b in (8, 4, 2, 1)) + " % (8/4/2/1 bl.)",
                 f"{summary['train_wall_s'] / max(1, student_epochs):.1f} s/epoch"))

    bkws = export_checkpoint(student, out / "bifsmnv2.bkws")

    feats, labels = load_features(SpeechCommands(data, 12), "validation", progress=False)
    eng = Engine(bkws, blocks=8)
    eng_acc = float((eng.predict(feats.numpy()).argmax(1) == labels.numpy()).mean())
    rows.append(("export + C++ engine", f"{bkws.stat().st_size / 1024:.0f} KiB .bkws",
                 f"{100 * eng_acc:.2f}% (8 bl., engine)", f"kernel {eng.kernel}"))

    res = run_bench(student, teacher, out / "bench", runs=bench_runs)
    by = {r["name"]: r for r in res["rows"]}
    fp = by.get("engine FP32 teacher", {}).get("network_us")
    b8 = next((r["network_us"] for n, r in by.items() if n.endswith("8 blocks")), None)
    ort = by.get("ONNX Runtime FP32 teacher", {}).get("network_us")
    speed = f"{fp / b8:.1f}x vs engine FP32" if fp and b8 else "-"
    if ort and b8:
        speed += f", {ort / b8:.1f}x vs ONNX Runtime"
    rows.append(("benchmark (batch 1, 1 thread)", f"{bench_runs} runs",
                 f"{b8:.0f} us/clip binary 8 bl." if b8 else "-", speed))

    stream = _demo_stream(data, out)
    # what `bifsmn detect` runs without a model (the bundled two-stage detector), then its
    # always-on first stage alone
    hits, n, text, point = _detect_demo(*stream, verifier="bundled")
    rows.append(("detection demo (bifsmn detect)", point, f"{hits}/{n} keywords found", text))
    hits, n, text, point = _detect_demo(*stream)
    rows.append(("1-bit stage alone (--verifier none)", point, f"{hits}/{n} keywords found",
                 text))

    header = ("stage", "setting", "result", "note")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    print()
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    print(f"\nrun folder: {out} (total {time.time() - t0:.0f} s); benchmark table: "
          f"{out / 'bench' / 'bench.md'}")
    return {"rows": rows, "run": str(out)}
