"""Data-aware rounding of int8 thresholds: the codes of a narrow ``.bkws`` file chosen so that
its binarizers give the float32 file's bits on training data, not merely the nearest codes.

Why: ``--storage small`` stores every dual-scale threshold pair (tau0, tau1) as int8 with one
scale per row. Rounding each threshold to its nearest code moves it by up to half a step, and
every training or validation value that lies between the old and the new threshold changes
its bit; those changes propagate through the network and moved validation accuracy of the dev
model by up to 0.62 points (docs/bkws-format.md, "Precision choices"), beyond issue 10's
0.2-point rule. A threshold only matters through the bits it produces, so the right code is
the one whose bits agree most with the float32 file's on real inputs: per channel, among the
codes within ``radius`` steps of the nearest one, the code with the fewest disagreements
(ties: the code nearest the float value). The layers are chosen in the order the network runs
them, each on the inputs that the already-chosen narrow layers before it produce, so that a
layer also absorbs what the narrowing upstream did to its inputs (a thinnable block sees the
inputs of every path that runs it).

What it changes and what it does not: only which int8 codes the file stores (same scales,
same sizes, same format); the file's function is then computed by the deployed reference and
the engine bit for bit as before. The data should be training data: the codes are a fit, and
the validation split stays the judge.

Outcome (session 52, README.md beside this file): no fewer changed validation predictions than
nearest rounding (468 against 472 over four dev models), so it stayed a probe, moved here from
``bifsmn.deploy``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch

from bifsmn.blocks import layers_of_index, to_index
from bifsmn.deploy.plans import group_of, narrowed_spec
from bifsmn.deploy.reference import DeployedDFSMN
from bifsmn.deploy.spec import Constant, DeploySpec
from bifsmn.deploy.storage import I8_MAX
from bifsmn.errors import BifsmnError


class _Captured(Exception):
    """Raised by the capture hook once a record's inputs are in hand (stops the forward)."""


def threshold_records(spec: DeploySpec, plan: dict[str, str]) -> list[str]:
    """The threshold records (group ``tau``) the plan stores as int8, in the order the network
    runs them (conv2, fc1, then memory, fc_in, fc_out of each block)."""
    order = ["conv2.tau", "fc1.tau"]
    for j in range(spec.arch.layers):
        order += [f"b{j}.mem.tau", f"b{j}.fc_in.tau", f"b{j}.fc_out.tau"]
    if plan.get("tau") not in ("i8", "i8r"):
        return []
    return [r for r in order if r in spec.constants and group_of(r) == "tau"]


def _paths_running(record: str, spec: DeploySpec) -> list[int]:
    """Block counts of the included paths that run ``record``'s layer."""
    if not record.startswith("b"):
        return list(spec.blocks)
    j = int(record[1:].split(".", 1)[0])
    return [b for b in spec.blocks if j in layers_of_index(to_index(b, spec.arch.layers),
                                                          spec.arch.layers)]


def _inputs(spec: DeploySpec, record: str, x: torch.Tensor, blocks: int,
            batch: int) -> tuple[torch.Tensor, int]:
    """(values, pad_rows): every value ``record``'s binarizer splits on inputs ``x`` through the
    path of ``blocks`` blocks, as rows of channels (N, C), and how many all-zero rows (a
    memory layer's padding frames) split alongside them."""
    ref = DeployedDFSMN(spec)
    left_right = spec.arch.left + spec.arch.right
    rows: list[torch.Tensor] = []
    pads = 0
    need = 2 if ".mem." in record else 1  # memory splits its frames, then the zero padding

    for i in range(0, len(x), batch):
        got: list[torch.Tensor] = []

        def hook(name: str, v: torch.Tensor, got: list[torch.Tensor] = got) -> None:
            if name != record:
                return
            got.append(v.detach())
            if len(got) == need:
                raise _Captured

        ref.split_hook = hook
        xb = x[i:i + batch]
        try:
            with torch.no_grad():
                ref(xb, blocks)
        except _Captured:
            pass
        if len(got) != need:
            raise BifsmnError(f"record {record}: its binarizer did not run on the path of "
                              f"{blocks} blocks")
        v = got[0]
        if v.dim() == 4:  # conv2: (B, C1, H1, W1)
            v = v.permute(0, 2, 3, 1)
        rows.append(v.reshape(-1, v.shape[-1]))
        if need == 2:
            if bool((got[1] != 0).any()):
                raise BifsmnError(f"record {record}: expected zero padding frames")
            pads += len(xb) * left_right
    return torch.cat(rows), pads


def _best_codes(v: torch.Tensor, want: torch.Tensor, pad_value: torch.Tensor,
                want_pad: torch.Tensor, pads: int, near: np.ndarray, scale: float,
                radius: int) -> np.ndarray:
    """Per channel, the code q (within ``radius`` of ``near``) whose threshold
    ``t = float32(q) * scale`` makes ``v - t >= 0`` equal to ``want`` most often; the padding
    rows (``pads`` of them, value ``pad_value`` per channel, wanted bit ``want_pad``) count
    too. Ties go to the code nearest ``near``."""
    sc = np.float32(scale)
    best = near.astype(np.int64).copy()
    best_err = None
    # candidates in order of distance from the nearest code (0, -1, +1, -2, +2, ...)
    for step in [0] + [s for d in range(1, radius + 1) for s in (-d, d)]:
        q = np.clip(near.astype(np.int64) + step, -I8_MAX, I8_MAX)
        t = torch.from_numpy((q.astype(np.float32) * sc).astype(np.float32))
        err = ((v - t) >= 0).ne(want).sum(0, dtype=torch.int64)
        if pads:
            err = err + ((pad_value - t) >= 0).ne(want_pad).to(torch.int64) * pads
        err_np = err.numpy()
        if best_err is None:
            best_err = err_np
            continue
        better = err_np < best_err
        best = np.where(better, q, best)
        best_err = np.where(better, err_np, best_err)
    return best


def round_thresholds(spec: DeploySpec, plan: dict[str, str], x: torch.Tensor,
                     radius: int = 2, batch: int = 512,
                     progress: Callable[[str], None] | None = None,
                     records: Iterable[str] | None = None) -> DeploySpec:
    """``narrowed_spec(spec, plan)`` with the int8 codes of every threshold record chosen on
    inputs ``x`` (network inputs, (B, 1, n_mels, frames)) to reproduce the float32 ``spec``'s
    bits (module docstring). Same scales, sizes and format as the nearest-code file."""
    if not spec.dual_scale:
        raise BifsmnError(f"data-aware threshold rounding applies to dual-scale models, not "
                          f"{spec.kind}")
    out = narrowed_spec(spec, plan)
    todo = list(records) if records is not None else threshold_records(spec, plan)
    x = x.detach().cpu().float()
    for n, record in enumerate(todo):
        tau_f = spec.constants[record].widened()  # (2, C) float32 thresholds of the float file
        near = out.constants[record]
        if near.dtype != "i8":
            raise BifsmnError(f"record {record} is stored as {near.dtype}, not int8")
        scales = np.broadcast_to(near.scale, (2,)) if near.scale.size == 1 else near.scale
        codes = np.array(near.value, np.int64)
        vf_all, vn_all, pads = [], [], 0
        for b in _paths_running(record, spec):
            vf, pf = _inputs(spec, record, x, b, batch)
            vn, pn = _inputs(out, record, x, b, batch)
            vf_all.append(vf)
            vn_all.append(vn)
            pads += pf
        vf, vn = torch.cat(vf_all), torch.cat(vn_all)
        t0f, t1f = (torch.from_numpy(np.asarray(tau_f[i], np.float32)) for i in (0, 1))
        # the float file's bits: b1 = [v - tau0 >= 0], b2 = [(v - b1) - tau1 >= 0]
        b1f = (vf - t0f) >= 0
        b2f = ((vf - torch.where(b1f, 1.0, -1.0)) - t1f) >= 0
        pad1f = (0.0 - t0f) >= 0
        pad2f = ((0.0 - torch.where(pad1f, 1.0, -1.0)) - t1f) >= 0
        zero = torch.zeros_like(t0f)
        q0 = _best_codes(vn, b1f, zero, pad1f, pads, codes[0], float(scales[0]), radius)
        t0 = torch.from_numpy((q0.astype(np.float32) * np.float32(scales[0])).astype(np.float32))
        b1n = (vn - t0) >= 0
        pad1n = (0.0 - t0) >= 0
        xn = vn - torch.where(b1n, 1.0, -1.0)
        # tau1 sees v - b1 of the narrow network: rows as values, pads as 0 - b1 (not 0)
        q1 = _best_codes(xn, b2f, 0.0 - torch.where(pad1n, 1.0, -1.0), pad2f, pads, codes[1],
                         float(scales[1]), radius)
        new = np.stack([q0, q1]).astype(np.int8)
        out.constants[record] = Constant("i8", new, near.scale)
        if progress is not None:
            changed = int((new != np.asarray(near.value)).sum())
            progress(f"[{n + 1}/{len(todo)}] {record}: {changed} of {new.size} codes moved "
                     f"from the nearest")
    return out

