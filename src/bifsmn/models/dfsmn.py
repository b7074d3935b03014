"""Deep-FSMN keyword-spotting network (docs/methods.md, "Models"): the FP teacher and the
thinnable student.

Topology (per 1-s clip): log-mel (1, 32, 32) -> two 5x5 stride-2 convs -> 8x8 maps of 32
channels, read as 8 frames of 256 features -> Linear 256->128 -> 8 DFSMN blocks -> flatten
(8 x 128 = 1024) -> dropout -> Linear -> logits.

A DFSMN block, in (B, T, C) layout:
``mem = act_m(bn_m(memory(pad(m)))) + m``;
``out = act_p(bn_p(fc_out(drop(act_h(bn_h(fc_in(mem))))))) + mem``, where ``bn_p``/``act_p``
belong to the thinnable path ``p`` being run (docs/methods.md, "Thinnable paths"): the same
weights serve 8, 4, 2 or 1 blocks, only the post-FC normalisation differs per path.

Path ``p`` runs block ``j`` iff ``(j + 1) % 2**p == 0``: 8 blocks (p=0), 4 (p=1), 2 (p=2),
1 (p=3). ``forward(path=p)`` takes the path *index* (which BatchNorm set a block uses): it is
the model's internal name; everything user-facing speaks block counts and converts with
:mod:`bifsmn.blocks`.

``eval()`` is the training graph in eval mode, nothing else: the engine's arithmetic is the
explicit deployment step (:mod:`bifsmn.deploy`).
"""

from __future__ import annotations

import torch
from torch import nn

from bifsmn.binary.layers import QuantConv2d, QuantDepthwiseTime, QuantLinear
from bifsmn.blocks import MAX_PATHS, from_index, layers_of_index
from bifsmn.errors import BifsmnError, MissingPath
from bifsmn.models.registry import register_model


class PReLU(nn.PReLU):
    """``nn.PReLU`` computed as ``relu(x) - a * relu(-x)``: the same function and parameters,
    but its backward is a few fused elementwise ops, where PyTorch's CPU PReLU backward kernel
    with one shared slope costs about 1 ms per call on a (96, 8, 256) tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.weight.numel() == 1:
            return torch.relu(x) - self.weight * torch.relu(-x)
        return super().forward(x)


def _act(kind: str, channels: int = 1) -> nn.Module:
    if kind == "relu":
        return nn.ReLU()
    if kind == "prelu":
        return PReLU(channels, init=0.25)
    raise BifsmnError(f"unknown activation {kind!r} (relu or prelu)")


class TokenBatchNorm(nn.BatchNorm1d):
    """BatchNorm over the channel axis of (B, T, C) input (statistics over batch and time)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        return super().forward(x.reshape(-1, shape[-1])).reshape(shape)


class DFSMNBlock(nn.Module):
    """One DFSMN block with ``num_paths`` sets of post-FC BatchNorm + PReLU."""

    def __init__(self, dim: int = 128, hidden: int = 256, left: int = 2, right: int = 2,
                 act: str = "relu", num_paths: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.memory = QuantDepthwiseTime(dim, left, right)
        self.mem_bn = TokenBatchNorm(dim)
        self.mem_act = PReLU(init=0.25)
        self.fc_in = QuantLinear(dim, hidden, kind="pointwise")
        self.hid_bn = TokenBatchNorm(hidden)
        self.hid_act = _act(act)
        self.drop = nn.Dropout(dropout)
        self.fc_out = QuantLinear(hidden, dim, kind="pointwise")
        self.path_bn = nn.ModuleList(TokenBatchNorm(dim) for _ in range(num_paths))
        self.path_act = nn.ModuleList(PReLU(init=0.25) for _ in range(num_paths))

    def forward(self, x: torch.Tensor, path: int = 0) -> torch.Tensor:
        mem = self.mem_act(self.mem_bn(self.memory(x))) + x
        h = self.drop(self.hid_act(self.hid_bn(self.fc_in(mem))))
        p = min(path, len(self.path_bn) - 1)
        return self.path_act[p](self.path_bn[p](self.fc_out(h))) + mem


class DFSMN(nn.Module):
    """Deep-FSMN for 1 x 32 x 32 log-mel input; see the module docstring."""

    def __init__(self, num_classes: int = 12, n_mels: int = 32, frames: int = 32,
                 num_layers: int = 8, frontend_channels: int = 16, kernel: int = 5,
                 hidden: int = 256, dim: int = 128, left: int = 2, right: int = 2,
                 act: str = "relu", num_paths: int = 1, dropout: float = 0.2,
                 fc1_norm: bool = False) -> None:
        super().__init__()
        if n_mels < 4 or frames < 4 or n_mels % 4 or frames % 4:
            raise BifsmnError(f"n_mels ({n_mels}) and frames ({frames}) must be positive "
                              "multiples of 4")
        sizes = {"num_classes": num_classes, "num_layers": num_layers, "hidden": hidden,
                 "dim": dim, "frontend_channels": frontend_channels, "kernel": kernel,
                 "num_paths": num_paths}
        bad = [f"{k}={v}" for k, v in sizes.items() if int(v) < 1]
        bad += [f"{k}={v}" for k, v in (("left", left), ("right", right)) if int(v) < 0]
        if bad:  # torch would fail later with a tensor-shape traceback
            raise BifsmnError(f"model sizes must be positive (memory taps >= 0): "
                              f"{', '.join(bad)}")
        c1, c2, pad = frontend_channels, 2 * frontend_channels, kernel // 2
        self.num_layers, self.num_paths = num_layers, num_paths
        self.frames = frames  # input time steps; the trainer checks them against the features
        self.n_mels = n_mels  # input bands; checked the same way (and between teacher and student)
        self.conv1 = QuantConv2d(1, c1, kernel, stride=2, padding=pad)
        self.bn1 = nn.BatchNorm2d(c1)
        self.act1 = _act(act)
        self.conv2 = QuantConv2d(c1, c2, kernel, stride=2, padding=pad)
        self.bn2 = nn.BatchNorm2d(c2)
        self.act2 = _act(act)
        self.fc1 = QuantLinear(c2 * n_mels // 4, dim)
        # Off in the paper's model. Binarizers without scales (BNN, Bi-Real, IR-Net) make fc1's
        # output ~sqrt(256) = 16x the teacher's, and nothing after it renormalises the residual
        # stream, so those baselines need a BatchNorm here to train at all (docs/methods.md).
        self.norm3 = TokenBatchNorm(dim) if fc1_norm else nn.Identity()
        self.act3 = _act(act)
        self.blocks = nn.ModuleList(
            DFSMNBlock(dim, hidden, left, right, act, num_paths, dropout) for _ in range(num_layers)
        )
        self.drop = nn.Dropout(dropout)
        self.classifier = nn.Linear(dim * frames // 4, num_classes)

    def frontend(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, mel, time) -> (B, T/4, dim) tokens."""
        x = self.act2(self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x))))))
        b, c, m, t = x.shape
        x = x.reshape(b, c * m, t).transpose(1, 2)  # feature index = channel * mel + row
        return self.act3(self.norm3(self.fc1(x)))

    def _check_path(self, path: int) -> None:
        # a path needs its own BatchNorm/PReLU set: with num_paths 2 or 3 the later paths
        # silently shared the last set (the block clamps the index for older callers)
        if not 0 <= path < min(MAX_PATHS, self.num_paths):
            what = (f"{from_index(path, self.num_layers)} blocks"
                    if 0 <= path < MAX_PATHS and self.num_layers >> path else f"path {path}")
            raise MissingPath(f"{what} not available (model has {self.num_paths} path sets)")

    def _backbone(self, h: torch.Tensor, path: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats = []
        for j in layers_of_index(path, self.num_layers):
            h = self.blocks[j](h, path)
            feats.append(h)
        return self.classifier(self.drop(h.flatten(1))), feats

    def forward(self, x: torch.Tensor, path: int = 0, return_features: bool = False,
                paths: list[int] | None = None):
        """Logits of path ``path``; with ``return_features`` also each run block's output.
        With ``paths`` it is :meth:`forward_paths` (the form DDP-wrapped training calls).

        Always the training graph (train or eval mode); the engine's arithmetic is
        :func:`bifsmn.deploy.deploy`.
        """
        if paths is not None:
            return self.forward_paths(x, paths)
        self._check_path(path)
        logits, feats = self._backbone(self.frontend(x), path)
        return (logits, feats) if return_features else logits

    def forward_paths(self, x: torch.Tensor, paths: list[int]
                      ) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
        """``(logits, block outputs)`` for several paths, running the shared front end once.

        Same values and gradients as separate ``forward`` calls (the front end is identical on
        every path); only the front end's BatchNorm running statistics are updated once per
        batch instead of once per path.
        """
        for p in paths:
            self._check_path(p)
        h = self.frontend(x)
        return [self._backbone(h, p) for p in paths]


@register_model
def dfsmn_teacher(num_classes: int = 12, **kw) -> DFSMN:
    """Full-precision teacher (``DfsmnModel_pre``): ReLU, one path set, dropout 0.2."""
    return DFSMN(num_classes=num_classes, **{"act": "relu", "num_paths": 1, "dropout": 0.2, **kw})


@register_model
def dfsmn_thinnable(num_classes: int = 12, **kw) -> DFSMN:
    """Student topology (``BiDfsmnModel_thinnable``) before binarization: PReLU everywhere,
    four post-FC BN/PReLU sets (8/4/2/1-block paths), no dropout."""
    return DFSMN(num_classes=num_classes,
                 **{"act": "prelu", "num_paths": 4, "dropout": 0.0, **kw})
