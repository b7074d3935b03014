"""Checkpoint -> ONNX graph of one path, checked against PyTorch in ONNX Runtime before it is
written.

Why: people run keyword spotters in runtimes this package does not ship (ONNX Runtime on
Windows, phones, browsers, servers). A binary student is exported as its *deployed* arithmetic
(:class:`bifsmn.deploy.DeployedDFSMN`, docs/binary-arithmetic.md) traced op for op: the sign
planes become float +-1 matrix products and convolutions (their sums are exact integers), the
epilogues keep their float32 operation order, the classifier stays float64. ONNX Runtime then
computes the same logits as the C++ engine, bit for bit where its kernels are exact (checked at
export on random inputs; docs/onnx.md has the measurement on real clips). It gains no speed from
the 1-bit weights (ONNX has no XNOR-popcount operator): the engine is the fast path, the ONNX
file the portable one. Full-precision models are exported as their eval graph.

The graph takes the network input, ``features`` (batch, 1, n_mels, frames), not audio: the
front end stays outside (its settings travel in the file's metadata, ``bifsmn.features``, so
that the same features can be computed; :func:`bifsmn.data.frontends.make_frontend`). Output:
``logits`` (batch, classes), labels in ``bifsmn.labels``.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

import bifsmn
from bifsmn import blocks as blocks_mod
from bifsmn.data.frontends import LOGMEL32, feature_config_from_dict, feature_kind
from bifsmn.deploy import DeployedDFSMN, NotDeployable, deploy
from bifsmn.errors import BifsmnError, naming
from bifsmn.outputs import atomic_write_bytes, check_output
from bifsmn.signatures import check_replaceable
from bifsmn.train.checkpoint import model_from_checkpoint

#: ONNX opset of the exported graphs (ONNX Runtime 1.18, the oldest the ``onnx`` extra allows,
#: runs opset 17 and newer)
OPSET = 17


@dataclass(frozen=True)
class Parity:
    """What the export-time check found: ONNX Runtime against PyTorch on ``inputs`` random
    feature tensors (:func:`check_inputs`). ``identical`` rows had bit-identical logits,
    ``argmax`` the same class."""

    inputs: int
    identical: int
    argmax: int
    max_abs_diff: float
    runtime: str
    deployed: bool = True  # the graph is a binary model's deployed arithmetic

    def line(self) -> str:
        text = (f"parity with PyTorch ({self.runtime}, {self.inputs} random inputs): "
                f"{self.identical} bit-identical, {self.argmax} same class, max |diff| "
                f"{self.max_abs_diff:.3g}")
        if self.deployed and self.identical < self.inputs:
            text += ("; warning: this ONNX Runtime rounds differently from the engine's "
                     "arithmetic (bit-identical with onnxruntime 1.32, docs/onnx.md)")
        return text


class _Records(nn.Module):
    """A deployed model's records as buffers, looked up by record name like the dict they
    replace. Why: the tracer bakes any value computed from plain tensors into a constant, so
    the sign weights (``where(bits, -1, 1)``, then transposed once per bit plane) became
    float32 constants, several copies of each (a file larger than the FP teacher's, measured
    while writing this exporter, not by a committed command). From
    buffers those steps stay graph operations, and the file stores the bits (one byte each,
    ONNX has no packed bool) from which ONNX Runtime builds the +-1 matrices once, at load."""

    def __init__(self, records: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.names = {}
        for i, (name, value) in enumerate(records.items()):
            self.register_buffer(f"r{i}", value)  # buffer names may not hold dots
            self.names[name] = f"r{i}"

    def __getitem__(self, name: str) -> torch.Tensor:
        return getattr(self, self.names[name])


def sum8_scan(x: torch.Tensor) -> torch.Tensor:
    """:func:`bifsmn.deploy.sum8` written for the ONNX graph: the eight partial sums as a
    ``CumSum`` over the (n/8, 8) view, last row taken.

    Why: traced, :func:`~bifsmn.deploy.sum8`'s loop is one slice and one add per eight
    values (512 of each for conv2's group of 4,096), most of the graph's nodes, and ONNX
    Runtime pays per node. ONNX ``CumSum`` adds along its axis in
    order in the input type, ONNX Runtime's float32 kernel one add at a time, which is
    :func:`~bifsmn.deploy.sum8`'s order exactly; the export-time parity check (bit-identical
    logits) and tests/test_onnx_export.py hold ONNX Runtime to it. Not for use in PyTorch:
    torch.cumsum accumulates float32 in float64 on the CPU, so its values here are not the
    reference's (only its trace is used)."""
    n = x.shape[-1]
    full = n - n % 8
    if full:
        p = torch.cumsum(x[..., :full].reshape(*x.shape[:-1], full // 8, 8), dim=-2)[..., -1, :]
    else:
        p = x.new_zeros((*x.shape[:-1], 8))
    for i in range(full, n):
        p = torch.cat([p[..., :i & 7], p[..., i & 7:(i & 7) + 1] + x[..., i:i + 1],
                       p[..., (i & 7) + 1:]], -1)
    return ((p[..., 0] + p[..., 1]) + (p[..., 2] + p[..., 3])) + (
        (p[..., 4] + p[..., 5]) + (p[..., 6] + p[..., 7]))


class _OnePath(nn.Module):
    """``forward(features) -> logits`` of one path: what the exporter traces."""

    def __init__(self, model: nn.Module, blocks: int, path: int, deployed: bool) -> None:
        super().__init__()
        self.model, self.blocks, self.path, self.deployed = model, blocks, path, deployed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.deployed:
            return self.model(x, self.blocks)
        return self.model(x, path=self.path)


def _graph(model: nn.Module, ckpt: dict, blocks: int, dtypes: dict) -> _OnePath:
    """The module to trace: the deployed form of a binary model, the eval graph of a full
    precision one (dtype options apply to binary models only)."""
    path = blocks_mod.require(blocks, getattr(model, "num_layers", blocks_mod.DEFAULT_LAYERS),
                              getattr(model, "num_paths", 1))
    binary = ckpt.get("binary") or {"method": "none"}
    if binary.get("method", "none") == "none":
        if any(v is not None for v in dtypes.values()):
            raise BifsmnError("--param-dtype, --classifier-dtype, --compact and --storage apply "
                              "to binary models only (a full-precision model is the FP32 "
                              "baseline)")
        return _OnePath(model, blocks, path, deployed=False).eval()
    try:
        ref = deploy(model, binary, param_dtype=dtypes.get("param_dtype") or "f32",
                     classifier_dtype=dtypes.get("classifier_dtype") or "f32",
                     storage=dtypes.get("storage"))
    except NotDeployable as exc:
        raise BifsmnError(f"no ONNX form: {exc} (only full-precision models and binary "
                          "students with a deployed form export)") from None
    ref.r = _Records(ref.r)  # type: ignore[assignment]
    return _OnePath(ref, blocks, path, deployed=True).eval()


def _trace(graph: _OnePath, x: torch.Tensor) -> bytes:
    """ONNX bytes of ``graph`` (dynamic batch). The TorchScript exporter first; PyTorch's
    dynamo exporter (which needs onnxscript) where a PyTorch no longer has it. A deployed
    model is traced with :func:`sum8_scan`."""
    if graph.deployed:  # traced with the few-node form of the same sum order, then restored
        ref = cast(DeployedDFSMN, graph.model)  # what _graph gives a deployed graph
        reference_sum8, ref.sum8 = ref.sum8, sum8_scan
        try:
            return _trace_as_is(graph, x)
        finally:
            ref.sum8 = reference_sum8
    return _trace_as_is(graph, x)


def _trace_as_is(graph: _OnePath, x: torch.Tensor) -> bytes:
    return onnx_bytes(graph, x, input_names=["features"], output_names=["logits"],
                      opset_version=OPSET, do_constant_folding=False,
                      dynamic_axes={"features": {0: "batch"}, "logits": {0: "batch"}})


def onnx_bytes(module: nn.Module, x: torch.Tensor, **export_kwargs: Any) -> bytes:
    """ONNX bytes of ``module`` traced on ``x`` (``export_kwargs`` go to ``torch.onnx.export``).

    Why one helper: the path export above and ``bifsmn bench``'s FP32 teacher (which keeps the
    exporter's defaults, constant folding included, for ONNX Runtime's speed) both need the
    TorchScript exporter first and the dynamo exporter (which needs onnxscript) where a
    PyTorch no longer has the former, and one error naming both failures otherwise."""
    import io

    errors = []
    for dynamo in (False, True):
        buf = io.BytesIO()
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")  # the exporters' deprecation and trace chatter
                # a file object is documented for f; torch's annotation lists paths only
                torch.onnx.export(module, (x,), buf,  # type: ignore[arg-type]
                                  dynamo=dynamo, **export_kwargs)
            return buf.getvalue()
        except Exception as exc:  # noqa: BLE001 - every exporter failure is reported
            errors.append(f"dynamo={dynamo}: {str(exc).splitlines()[0][:160]}")
    raise BifsmnError("torch.onnx.export failed: " + "; ".join(errors))


def _with_metadata(data: bytes, meta: dict[str, str]) -> bytes:
    try:
        import onnx
    except ImportError:
        raise BifsmnError("an ONNX export needs the onnx package (pip install "
                          "'bifsmn[onnx]')") from None

    proto = onnx.load_from_string(data)
    del proto.metadata_props[:]
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name, proto.producer_version = "bifsmn", bifsmn.__version__
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def check_inputs(kind: str, shape: tuple[int, int], n: int = 64, seed: int = 0) -> np.ndarray:
    """(n, 1, n_mels, frames) float32 features for the parity check: three quarters in the range
    of the model's front end (``kind``: fbank40 or log-mel), where a trained model's thresholds
    sit, one quarter N(0, 2^2), which crosses thresholds near 0."""
    from bifsmn.engine.testing import random_fbank40_features, random_features

    m = n - n // 4
    if kind != LOGMEL32:  # fbank40
        real = random_fbank40_features(m, seed, n_mels=shape[0], frames=shape[1])
    else:
        real = random_features(m, seed, n_mels=shape[0], frames=shape[1])
    wide = 2.0 * np.random.default_rng(seed + 1).standard_normal((n // 4, 1, *shape))
    return np.concatenate([real, wide.astype(np.float32)])


def check_parity(data: bytes, graph: _OnePath, x: np.ndarray) -> Parity:
    """Run the ONNX bytes in ONNX Runtime (one thread, default graph optimizations, as a user
    would) and ``graph`` in PyTorch on the features ``x``. Raises :class:`BifsmnError` if ONNX
    Runtime is missing."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise BifsmnError("the parity check needs onnxruntime (pip install 'bifsmn[onnx]'; "
                          "--no-check skips it)") from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    got = sess.run(["logits"], {"features": x})[0]
    graph.eval()  # the exporter restores the mode it found, which must be eval here too
    with torch.no_grad():
        want = graph(torch.from_numpy(x)).numpy()
    same = (got.view(np.uint32) == want.view(np.uint32)).all(1)
    return Parity(len(x), int(same.sum()), int((got.argmax(1) == want.argmax(1)).sum()),
                  float(np.abs(got.astype(np.float64) - want).max()),
                  f"onnxruntime {ort.__version__}", graph.deployed)


def export_onnx(checkpoint: str | Path, out_path: str | Path, blocks: str | int | None = None,
                param_dtype: str | None = None, classifier_dtype: str | None = None,
                storage: str | None = None, check: bool = True
                ) -> tuple[Path, Parity | None]:
    """Write one path of ``checkpoint`` as an ONNX graph (atomically) and return its path and
    the parity check's result (None with ``check=False``).

    ``blocks``: the path's block count (default: the most blocks the model has); an ONNX file
    holds one path. The dtype options give the function of the ``.bkws`` file exported with
    them (binary models), stored widened to float32. The check (ONNX Runtime against PyTorch)
    runs before anything is written: a file whose predicted class differs from PyTorch's on
    any check input is refused.
    """
    checkpoint, out_path = Path(checkpoint), Path(out_path)
    if out_path.suffix.lower() != ".onnx":
        raise BifsmnError("an ONNX export is named .onnx", out_path)
    check_output(out_path, (checkpoint,))
    check_replaceable(out_path, "onnx")
    model, ckpt = model_from_checkpoint(checkpoint)
    layers = getattr(model, "num_layers", blocks_mod.DEFAULT_LAYERS)
    counts = blocks_mod.counts(layers, getattr(model, "num_paths", 1))
    if blocks is None or str(blocks) == "all":
        if str(blocks) == "all" and len(counts) > 1:
            raise BifsmnError(f"an ONNX file holds one path: give blocks (--blocks) as one of "
                              f"{', '.join(map(str, counts))}")
        count = counts[0]
    else:
        if "," in str(blocks):
            raise BifsmnError("an ONNX file holds one path: give blocks (--blocks) as one block "
                              "count")
        count = blocks_mod.parse_many([str(blocks)], layers)[0]
    dtypes = {"param_dtype": param_dtype, "classifier_dtype": classifier_dtype,
              "storage": storage}
    try:  # errors from the checkpoint's contents name it
        graph = _graph(model, ckpt, count, dtypes)
    except BifsmnError as err:
        raise naming(err, checkpoint) from None
    feats = ckpt.get("features") or {}
    shape = (int(getattr(model, "n_mels", 32)), int(getattr(model, "frames", 32)))
    data = _trace(graph, torch.zeros(1, 1, *shape))
    labels = [str(x) for x in ckpt.get("labels") or []]
    meta = {"bifsmn.source": checkpoint.name, "bifsmn.blocks": str(count),
            "bifsmn.labels": json.dumps(labels), "bifsmn.features": json.dumps(feats,
                                                                              default=str),
            "bifsmn.binary": json.dumps(ckpt.get("binary") or {"method": "none"}),
            "bifsmn.arithmetic": "deployed" if graph.deployed else "eval graph",
            "bifsmn.input": f"features (batch, 1, {shape[0]}, {shape[1]})"}
    meta.update({f"bifsmn.{k}": v for k, v in dtypes.items() if v is not None})
    data = _with_metadata(data, meta)
    kind = feature_kind(feature_config_from_dict(feats)) if feats else LOGMEL32
    parity = check_parity(data, graph, check_inputs(kind, shape)) if check else None
    if parity is not None and parity.argmax < parity.inputs:
        raise BifsmnError(f"ONNX Runtime disagrees with PyTorch: {parity.line()}; nothing "
                          "written", out_path)
    atomic_write_bytes(out_path, data, (checkpoint,))
    return out_path, parity
