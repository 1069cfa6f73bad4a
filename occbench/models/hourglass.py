"""Stacked Hourglass (Newell et al. 2016) in the princeton-vl ``pytorch_stacked_hourglass`` layout.

Top level: ``pre, hgs, features, outs, merge_features, merge_preds``. ``Conv`` wraps
``conv`` (always with bias) plus optional ``bn``; ``Residual`` is pre-activation
(BN-ReLU-1x1-BN-ReLU-3x3-BN-ReLU-1x1) and always constructs its 1x1 ``skip_layer``, even when
input and output channels match and it is unused, because the checkpoints carry those keys.
Official checkpoints (``checkpoint['state_dict']``, prefix ``model.module.``) load strictly.

Input is (B, 3, H, W) NCHW like every zoo model. The princeton-vl ``PoseNet.forward`` we read
also runs ``pre`` on NCHW directly (its channels-last ``permute`` is commented out; MODELS.md's
"channels-last input" describes older copies); the weights are the same either way.
``depth`` (recursion levels) is 4 officially; the tiny variant uses 3 so a 128x96 input
divides evenly.
"""

from __future__ import annotations

import torch
from torch import nn


class Conv(nn.Module):
    def __init__(
        self, inp: int, out: int, kernel: int = 3, stride: int = 1, bn: bool = False, relu: bool = True
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(inp, out, kernel, stride, padding=(kernel - 1) // 2, bias=True)
        self.relu = nn.ReLU() if relu else None
        self.bn = nn.BatchNorm2d(out) if bn else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        if self.relu is not None:
            x = self.relu(x)
        return x


class Residual(nn.Module):
    def __init__(self, inp: int, out: int) -> None:
        super().__init__()
        mid = out // 2
        self.relu = nn.ReLU()
        self.bn1 = nn.BatchNorm2d(inp)
        self.conv1 = Conv(inp, mid, 1, relu=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv2 = Conv(mid, mid, 3, relu=False)
        self.bn3 = nn.BatchNorm2d(mid)
        self.conv3 = Conv(mid, out, 1, relu=False)
        self.skip_layer = Conv(inp, out, 1, relu=False)
        self.need_skip = inp != out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.skip_layer(x) if self.need_skip else x
        out = self.conv1(self.relu(self.bn1(x)))
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.conv3(self.relu(self.bn3(out)))
        return out + residual


class Hourglass(nn.Module):
    def __init__(self, depth: int, channels: int, increase: int = 0) -> None:
        super().__init__()
        inner = channels + increase
        self.up1 = Residual(channels, channels)
        self.pool1 = nn.MaxPool2d(2, 2)
        self.low1 = Residual(channels, inner)
        self.low2 = Hourglass(depth - 1, inner) if depth > 1 else Residual(inner, inner)
        self.low3 = Residual(inner, channels)
        self.up2 = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up1(x) + self.up2(self.low3(self.low2(self.low1(self.pool1(x)))))


class Merge(nn.Module):
    def __init__(self, inp: int, out: int) -> None:
        super().__init__()
        self.conv = Conv(inp, out, 1, relu=False, bn=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class StackedHourglass(nn.Module):
    def __init__(
        self,
        num_joints: int,
        nstack: int = 8,
        inp_dim: int = 256,
        increase: int = 0,
        depth: int = 4,
        stem: tuple[int, int] = (64, 128),
    ) -> None:
        super().__init__()
        self.nstack = nstack
        s1, s2 = stem
        self.pre = nn.Sequential(
            Conv(3, s1, 7, 2, bn=True, relu=True),
            Residual(s1, s2),
            nn.MaxPool2d(2, 2),
            Residual(s2, s2),
            Residual(s2, inp_dim),
        )
        self.hgs = nn.ModuleList([nn.Sequential(Hourglass(depth, inp_dim, increase)) for _ in range(nstack)])
        self.features = nn.ModuleList(
            [
                nn.Sequential(Residual(inp_dim, inp_dim), Conv(inp_dim, inp_dim, 1, bn=True, relu=True))
                for _ in range(nstack)
            ]
        )
        self.outs = nn.ModuleList([Conv(inp_dim, num_joints, 1, relu=False, bn=False) for _ in range(nstack)])
        self.merge_features = nn.ModuleList([Merge(inp_dim, inp_dim) for _ in range(nstack - 1)])
        self.merge_preds = nn.ModuleList([Merge(num_joints, inp_dim) for _ in range(nstack - 1)])

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        x = self.pre(x)
        stages = []
        for i in range(self.nstack):
            feature = self.features[i](self.hgs[i](x))
            preds = self.outs[i](feature)
            stages.append(preds)
            if i < self.nstack - 1:
                x = x + self.merge_preds[i](preds) + self.merge_features[i](feature)
        return {"heatmaps": stages[-1], "stages": stages}
