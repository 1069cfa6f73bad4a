"""Convolutional Pose Machines (Wei et al. 2016) in mmpose's CPM key layout.

mmpose's CPM is the only public PyTorch CPM with checkpoints, so ours has the same keys and
wiring (``backbone.`` stripped, see ``checkpoints.py``). Every conv sits in a ``ConvBlock``
with ``conv`` and, where a BN follows, ``bn`` (the conv then has no bias); the last conv of
a stage has a bias and neither BN nor ReLU.

- ``stem`` (stage 1): 3 x [conv 9x9 → 128, maxpool 3/2] at indices 0..5, then conv 5x5 → 32
  (6), conv 9x9 → 512 (7), conv 1x1 512 (8), conv 1x1 → K (9).
- ``middle``: the shared image trunk, the same 3 x [9x9, maxpool] (convs at 0, 2, 4).
- Per later stage t: ``middle_conv.{t}.0`` (5x5 → 32 on the trunk), then
  ``cpm_stages.{t}.model.{0,1,2}`` (3 x conv 11x11 → 128) on
  ``cat([previous stage's heatmaps, middle features])`` — heatmaps first, as in mmpose — then
  ``out_convs.{t}.0`` (1x1 128) and ``out_convs.{t}.1`` (1x1 → K).

Output stride 8; every stage is supervised. mmpose's CPM head has no parameters, so the
backbone is the whole model.

Difference from the original Caffe model (documented in docs/models.md): no centre-map
input and no background channel, as in mmpose's CPM (COCO AP .627 at 256x192).
"""

from __future__ import annotations

import torch
from torch import nn

from occbench.models.resnet import BN_MOMENTUM, init_pose_weights


class ConvBlock(nn.Module):
    """conv (+ BN + ReLU): mmcv ConvModule's names, so ``conv.*`` and ``bn.*`` keys."""

    def __init__(self, cin: int, cout: int, kernel: int, norm: bool = True) -> None:
        super().__init__()
        # A conv followed by BN has no bias (the BN shift replaces it).
        self.conv = nn.Conv2d(cin, cout, kernel, padding=(kernel - 1) // 2, bias=not norm)
        self.bn = nn.BatchNorm2d(cout, momentum=BN_MOMENTUM) if norm else None
        self.relu = nn.ReLU(inplace=True) if norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.relu(self.bn(x))
        return x


def _trunk(feat: int) -> list[nn.Module]:
    pool = {"kernel_size": 3, "stride": 2, "padding": 1}
    return [
        ConvBlock(3, feat, 9),
        nn.MaxPool2d(**pool),
        ConvBlock(feat, feat, 9),
        nn.MaxPool2d(**pool),
        ConvBlock(feat, feat, 9),
        nn.MaxPool2d(**pool),
    ]


class StageBlock(nn.Module):
    """mmpose's CpmBlock: the 11x11 convs in ``model``."""

    def __init__(self, cin: int, feat: int) -> None:
        super().__init__()
        self.model = nn.Sequential(ConvBlock(cin, feat, 11), ConvBlock(feat, feat, 11), ConvBlock(feat, feat, 11))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class CPM(nn.Module):
    def __init__(
        self, num_joints: int, num_stages: int = 6, feat: int = 128, middle: int = 32, stage1_width: int = 512
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            *_trunk(feat),
            ConvBlock(feat, middle, 5),
            ConvBlock(middle, stage1_width, 9),
            ConvBlock(stage1_width, stage1_width, 1),
            ConvBlock(stage1_width, num_joints, 1, norm=False),
        )
        self.middle = nn.Sequential(*_trunk(feat))
        later = range(num_stages - 1)
        self.cpm_stages = nn.ModuleList([StageBlock(num_joints + middle, feat) for _ in later])
        self.middle_conv = nn.ModuleList([nn.Sequential(ConvBlock(feat, middle, 5)) for _ in later])
        self.out_convs = nn.ModuleList(
            [nn.Sequential(ConvBlock(feat, feat, 1), ConvBlock(feat, num_joints, 1, norm=False)) for _ in later]
        )
        init_pose_weights(self)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        stages = [self.stem(x)]
        shared = self.middle(x)
        for middle_conv, stage, out_conv in zip(self.middle_conv, self.cpm_stages, self.out_convs, strict=True):
            stages.append(out_conv(stage(torch.cat([stages[-1], middle_conv(shared)], 1))))
        return {"heatmaps": stages[-1], "stages": stages}
