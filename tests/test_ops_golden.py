"""The C++ engine's reference ops against golden values from the Python deployed reference.

For random models of each binary kind (and the committed at-scale model), the deployed
reference (``DeployedDFSMN``, the arithmetic of docs/binary-arithmetic.md) runs stage by stage;
this test writes each stage's inputs, parameters and outputs as ``.npy`` files into a temporary
folder, and ``test_ops --golden DIR`` (cpp/tests/test_ops.cc) recomputes every stage with the C++
reference op (cpp/src/ops/*/) and requires the same bits: conv1, conv2 with its per-position
bias table, the binary linear layers (fc1, fc_in, fc_out with residual), the FSMN memory and
the classifier. The optimized ops are tied to the references by test_ops' random-shape tests,
and the whole engine to the deployed reference by tests/test_engine.py: so the two languages
are tied by tests, not by copying.

The deployed reference is used through ``_stages`` below only (the one place that names its
stage methods).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from cpp_build import build_lock

from bifsmn.deploy import deploy
from bifsmn.engine import export_checkpoint
from bifsmn.engine.format import read_file
from bifsmn.engine.testing import make_checkpoint, random_features
from bifsmn.train.checkpoint import model_from_checkpoint

REPO = Path(__file__).resolve().parents[1]
CPP = REPO / "cpp"
MODEL = REPO / "models" / "bifsmnv2_fbank40.pt"

pytestmark = pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not installed")


@pytest.fixture(scope="module", params=["native", "clang"])
def test_ops(request) -> Path:
    """cpp/build-<variant>/test_ops, configured and built like cpp/run_tests.sh does: with the
    default compiler, and with clang++ (skipped where it is not installed), so that both
    compilers' reference ops are held to the Python deployed reference's bits."""
    variant = request.param
    compiler = []
    if variant == "clang":
        if shutil.which("clang++") is None:
            pytest.skip("clang++ not installed (cpp/install_cross_tools.sh installs it)")
        compiler = ["-DCMAKE_CXX_COMPILER=clang++"]
    build = CPP / f"build-{variant}"
    ninja = shutil.which("ninja") is not None
    with build_lock(build):
        cache = build / "CMakeCache.txt"
        if cache.exists() and ninja != ("CMAKE_GENERATOR:INTERNAL=Ninja" in cache.read_text()):
            shutil.rmtree(build)
        gen = ["-G", "Ninja"] if ninja else []
        subprocess.run(["cmake", "-S", str(CPP), "-B", str(build), *gen, "-DBIFSMN_WERROR=ON",
                        "-DCMAKE_BUILD_TYPE=Release", *compiler], check=True, capture_output=True)
        subprocess.run(["cmake", "--build", str(build), "--target", "test_ops", "-j", "2"],
                       check=True, capture_output=True)
    return build / "test_ops"


def _records(bkws: Path) -> dict:
    return {name: (rec.text() if rec.dtype == "u8" else rec.array())
            for name, rec in read_file(bkws).items()}


def _stages(ckpt: Path, x: np.ndarray) -> dict:
    """Inputs and outputs of every stage of the deployed reference of ``ckpt`` on its
    all-blocks path, folded as export folds it (the file's records are the same constants)."""
    d = deploy(model_from_checkpoint(ckpt)[0])
    out: dict = {}
    with torch.no_grad():
        xt = torch.from_numpy(x)
        y1 = d._conv1(xt)
        tok = d._conv2(y1)
        out["conv1"] = (xt[:, 0], y1)
        out["conv2"] = (y1, tok, d.conv2_bias_pos)
        h = d._linear("fc1", tok, d.r["fc1.scale"], d.r["fc1.bias"], d._scalar("act3"))
        out["fc1"] = (tok, h, None)
        for j in range(d.layers):  # path 0 runs every block
            m = d._memory(j, h)
            out[f"b{j}.mem"] = (h, m)
            hid = d._linear(f"b{j}.fc_in", m, d.r[f"b{j}.fc_in.scale"], d.r[f"b{j}.fc_in.bias"],
                            d._scalar(f"b{j}.act_h"))
            out[f"b{j}.fc_in"] = (m, hid, None)
            h = d._linear(f"b{j}.fc_out", hid, d.r[f"b{j}.fc_out.scale.p0"],
                          d.r[f"b{j}.fc_out.bias.p0"], d._scalar(f"b{j}.act_p.p0"), res=m)
            out[f"b{j}.fc_out"] = (hid, h, m)
        out["classifier"] = (h.flatten(1), d(xt, d.layers))
    return out


def _save(folder: Path, **arrays) -> None:
    folder.mkdir(parents=True)
    for name, v in arrays.items():
        if isinstance(v, torch.Tensor):
            v = v.numpy()
        v = np.asarray(v)
        if v.dtype == np.float64 or v.dtype == np.float16:
            v = v.astype(np.float32)
        elif v.dtype == np.int64:
            v = v.astype(np.int32)
        np.save(folder / f"{name}.npy", np.ascontiguousarray(v))


def _f32(v) -> np.ndarray:
    return np.asarray(v, np.float32)


def write_golden(ckpt: Path, rec: dict, x: np.ndarray, root: Path, tag: str) -> list[str]:
    """Write one model's stage values under root/<tag>.<stage> (``rec``: its exported
    records); returns the cases.txt lines."""
    dual = str(rec["meta.kind"]) == "bifsmnv2"
    arch = [int(v) for v in rec["arch"]]
    k, c1, left = arch[5], arch[3], arch[9]
    st = _stages(ckpt, x)
    lines = []

    def tau(name: str, n: int) -> np.ndarray:
        return _f32(rec[f"{name}.tau"]) if dual else np.zeros((2, n), np.float32)

    def case(stage: str, op: str, **arrays) -> None:
        _save(root / f"{tag}.{stage}", **arrays)
        lines.append(f"{tag}.{stage} {op}")

    xi, y1 = st["conv1"]
    case("conv1", "conv1", x=xi, y=y1, w=_f32(rec["conv1.w"]), b=_f32(rec["conv1.b"]), k=[k],
         slope=_f32(rec["act1"]).reshape(1))
    v, tok, bias_pos = st["conv2"]
    case("conv2", "conv2", x=v, y=tok, bias_pos=bias_pos, bits=rec["conv2.bits"], k=[k],
         dual=[int(dual)], tau=tau("conv2", c1),
         tau2=_f32(rec["conv2.tau2"]) if dual else np.zeros(c1, np.float32),
         scale=_f32(rec["conv2.scale"]), bias=_f32(rec["conv2.bias"]),
         slope=_f32(rec["act2"]).reshape(1))
    for name, vals in st.items():
        if not (name == "fc1" or name.endswith((".fc_in", ".fc_out"))):
            continue
        xin, y, res = vals
        j = name.split(".")[0]
        if name == "fc1":
            scale, bias, slope = rec["fc1.scale"], rec["fc1.bias"], rec["act3"]
        elif name.endswith(".fc_in"):
            scale, bias, slope = rec[f"{name}.scale"], rec[f"{name}.bias"], rec[f"{j}.act_h"]
        else:
            scale, bias = rec[f"{name}.scale.p0"], rec[f"{name}.bias.p0"]
            slope = rec[f"{j}.act_p.p0"]
        bits = rec[f"{name}.bits"]
        arrays = dict(x=xin, y=y, bits=bits, tau=tau(name, bits.shape[1]), scale=_f32(scale),
                      bias=_f32(bias), slope=_f32(slope).reshape(1), dual=[int(dual)],
                      has_res=[int(res is not None)])
        if res is not None:
            arrays["res"] = res
        case(name, "linear", **arrays)
    for name, vals in st.items():
        if not name.endswith(".mem"):
            continue
        xin, y = vals
        j = name.split(".")[0]
        bits = rec[f"{name}.bits"]
        case(name, "memory", x=xin, y=y, bits=bits, tau=tau(name, bits.shape[0]),
             scale=_f32(rec[f"{name}.scale"]), bias=_f32(rec[f"{name}.bias"]),
             slope=_f32(rec[f"{j}.act_m"]).reshape(1), left=[left], dual=[int(dual)])
    flat, logits = st["classifier"]
    case("classifier", "classifier", x=flat, y=logits, w=_f32(rec["classifier.w"]),
         b=_f32(rec["classifier.b"]))
    return lines


def _run(test_ops: Path, root: Path, lines: list[str]) -> str:
    (root / "cases.txt").write_text("\n".join(lines) + "\n")
    proc = subprocess.run([str(test_ops), "--golden", str(root)], capture_output=True, text=True,
                          timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "[FAIL]" not in out, out[-6000:]
    return out


@pytest.mark.parametrize("kind,kwargs", [
    ("bifsmnv2", {}),
    ("bifsmn_v1", {}),
    # odd widths: sum8 tails, packed rows that do not fill a word
    ("bifsmnv2", {"dim": 37, "hidden": 53, "frontend_channels": 5, "num_layers": 2}),
])
def test_reference_ops_match_python_deployed(test_ops, tmp_path, kind, kwargs) -> None:
    ckpt = make_checkpoint(tmp_path / "m.pt", kind, seed=3, **kwargs)
    bkws = export_checkpoint(ckpt, tmp_path / "m.bkws")
    rec = _records(bkws)
    n_mels, frames = int(rec["arch"][1]), int(rec["arch"][2])
    x = random_features(3, seed=4, n_mels=n_mels, frames=frames)
    x[0, 0, :4] = 0.0  # silence-like rows
    lines = write_golden(ckpt, rec, x, tmp_path / "golden", kind)
    out = _run(test_ops, tmp_path / "golden", lines)
    assert f"golden: {len(lines)} cases read" in out, out[-3000:]


@pytest.mark.skipif(not MODEL.exists(), reason="committed model not present")
def test_reference_ops_match_python_deployed_committed_model(test_ops, tmp_path) -> None:
    from bifsmn.engine.testing import random_fbank40_features

    bkws = export_checkpoint(MODEL, tmp_path / "m.bkws")
    rec = _records(bkws)
    x = random_fbank40_features(4, seed=5)
    lines = write_golden(MODEL, rec, x, tmp_path / "golden", "committed")
    out = _run(test_ops, tmp_path / "golden", lines)
    assert lines and f"golden: {len(lines)} cases read" in out, out[-3000:]


def test_shared_constants_are_documented() -> None:
    """The constants both languages implement are written once, in docs/binary-arithmetic.md;
    the golden cases above check that Python and C++ agree on them."""
    doc = (REPO / "docs" / "binary-arithmetic.md").read_text()
    section = doc.split("## Constants shared by Python and C++", 1)
    assert len(section) == 2, "docs/binary-arithmetic.md lacks the shared-constants section"
    for needle in ("((p0+p1)+(p2+p3))+((p4+p5)+(p6+p7))", "d = v - tau0", "r = (v - b1) - tau1",
                   "float32(bias[o] - scale[o] * T2", "z = scale * (D1 + s * D2) + bias",
                   "acc = acc + w[t] * x[t]", "((acc0 + acc1) + (acc2 + acc3)) + b"):
        assert needle in section[1], needle
