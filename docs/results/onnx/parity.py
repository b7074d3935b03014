"""ONNX export on real clips: ONNX Runtime against the deployed PyTorch reference (which the
C++ engine equals bit for bit) on every validation input of the data each model was trained on,
every path; and the cost of one call at batch 1, ONNX Runtime against the engine.

Run from the repository root (writes parity.md next to this file; the ONNX files go to a
temporary folder):

    python docs/results/onnx/parity.py --dev ../shared/data/speech_commands_test12_v0.02 \
        --archive ../shared/data/speech_commands_v0.02_fbank40
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from bifsmn.blocks import counts
from bifsmn.data.frontends import feature_config_from_dict
from bifsmn.data.sources import split_inputs
from bifsmn.deploy import deploy
from bifsmn.engine import Engine, export_checkpoint
from bifsmn.engine.onnx_export import export_onnx
from bifsmn.train.checkpoint import model_from_checkpoint

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
#: model -> which data its validation inputs come from
MODELS = {
    "bifsmnv2_a01_sc12dev": "dev",
    "bifsmnv2_s47_sc12dev": "dev",
    "bifsmnv2_fbank40": "archive",
    "bifsmnv2_fbank40_120snr": "archive",
    "teacher_sc12dev": "dev",
    "teacher_fbank40": "archive",
}


def _median_us(fn, x: np.ndarray, runs: int) -> float:
    for _ in range(10):
        fn(x)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t)
    return 1e6 * float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dev", required=True, help="the dev data (audio)")
    ap.add_argument("--archive", required=True, help="the fbank40 feature archive")
    ap.add_argument("--runs", type=int, default=300, help="timed calls per latency")
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = {"dev": args.dev, "archive": args.archive}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, which in MODELS.items():
            ckpt = REPO / "models" / f"{name}.pt"
            model, meta = model_from_checkpoint(ckpt)
            binary = (meta.get("binary") or {}).get("method", "none") != "none"
            feats, _, split, source = split_inputs(
                data[which], "validation", feature_config_from_dict(meta["features"]))
            x = feats.numpy().astype(np.float32)
            ref = deploy(model, meta["binary"]) if binary else None
            if not binary:
                model.eval()
            bkws = export_checkpoint(ckpt, Path(tmp) / f"{name}.bkws")
            for blocks in counts(model.num_layers, getattr(model, "num_paths", 1)):
                path, _ = export_onnx(ckpt, Path(tmp) / f"{name}-{blocks}.onnx", blocks)
                opts = ort.SessionOptions()
                opts.intra_op_num_threads = opts.inter_op_num_threads = 1
                sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
                got = np.concatenate([sess.run(["logits"], {"features": x[i:i + 256]})[0]
                                      for i in range(0, len(x), 256)])
                with torch.no_grad():
                    if binary:
                        want = ref(torch.from_numpy(x), blocks).numpy()
                    else:
                        want = torch.cat([model(torch.from_numpy(x[i:i + 256]))
                                          for i in range(0, len(x), 256)]).numpy()
                same = int((got.view(np.uint32) == want.view(np.uint32)).all(1).sum())
                agree = int((got.argmax(1) == want.argmax(1)).sum())
                eng = Engine(bkws, blocks=blocks)
                one = x[:1]
                ort_us = _median_us(lambda v, s=sess: s.run(["logits"], {"features": v}), one,
                                    args.runs)
                eng_us = _median_us(eng.predict, one, args.runs)
                rows.append((name, blocks, f"{len(x):,} ({split}, {source})", same, agree,
                             float(np.abs(got.astype(np.float64) - want).max()),
                             path.stat().st_size, ort_us, eng_us))
                print(rows[-1], flush=True)
    lines = [
        "# ONNX export on real clips",
        "",
        "Produced by `python docs/results/onnx/parity.py --dev "
        "../shared/data/speech_commands_test12_v0.02 --archive "
        "../shared/data/speech_commands_v0.02_fbank40` "
        f"(onnxruntime {ort.__version__}, torch {torch.__version__}, {platform.machine()}, "
        "one thread each). Each path exported by `bifsmn export MODEL.pt -o M.onnx --blocks N`; "
        "ONNX Runtime's logits on every validation input against the deployed PyTorch reference "
        "(binary students; the C++ engine equals it bit for bit) or the eval graph (FP32 "
        "teachers). Latency: median of the timed calls at batch 1 (features in, logits out), "
        "ONNX Runtime against the engine's `Engine.predict` on the default `.bkws` export "
        f"(load average at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}; "
        f"{os.cpu_count()} CPUs).",
        "",
        "| model | blocks | inputs | bit-identical logits | same class | max abs diff | "
        ".onnx bytes | ONNX Runtime (µs/call) | engine (µs/call) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:,} | {r[4]:,} | {r[5]:.3g} | "
                     f"{r[6]:,} | {r[7]:,.1f} | {r[8]:,.1f} |")
    (HERE / "parity.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {HERE / 'parity.md'}")


if __name__ == "__main__":
    main()
