"""Convolutional Pose Machines (Wei et al. 2016) in the PyTorch form mmpose uses.

Stage 1: 3 x [conv 9x9 + BN + ReLU, maxpool 3/2], conv 5x5 → 32, conv 9x9 → 512, conv 1x1
512, conv 1x1 → K. A shared image trunk (``middle``: the same 3 x [9x9 + pool]) feeds every
later stage through ``middle_conv`` (5x5 → 32), concatenated with the previous stage's
heatmaps, then 3 x conv 11x11, conv 1x1, conv 1x1 → K. Output stride 8; every stage is
supervised.

Difference from the original Caffe model (documented in docs/models.md): no centre-map
input and no background channel, as in mmpose's CPM (COCO AP .627 at 256x192). There is no
official PyTorch checkpoint, so key compatibility is not a goal.
"""

from __future__ import annotations

import torch
from torch import nn

from occbench.models.resnet import BN_MOMENTUM


def _cbr(cin: int, cout: int, kernel: int, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=not act)]
    if act:
        layers += [nn.BatchNorm2d(cout, momentum=BN_MOMENTUM), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def _trunk(feat: int) -> list[nn.Module]:
    pool = {"kernel_size": 3, "stride": 2, "padding": 1}
    return [
        _cbr(3, feat, 9),
        nn.MaxPool2d(**pool),
        _cbr(feat, feat, 9),
        nn.MaxPool2d(**pool),
        _cbr(feat, feat, 9),
        nn.MaxPool2d(**pool),
    ]


class CPM(nn.Module):
    def __init__(
        self, num_joints: int, num_stages: int = 6, feat: int = 128, middle: int = 32, stage1_width: int = 512
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            *_trunk(feat),
            _cbr(feat, middle, 5),
            _cbr(middle, stage1_width, 9),
            _cbr(stage1_width, stage1_width, 1),
            _cbr(stage1_width, num_joints, 1, act=False),
        )
        self.middle = nn.Sequential(*_trunk(feat))
        self.middle_conv = nn.ModuleList([_cbr(feat, middle, 5) for _ in range(num_stages - 1)])
        self.cpm_stages = nn.ModuleList(
            [
                nn.Sequential(
                    _cbr(middle + num_joints, feat, 11),
                    _cbr(feat, feat, 11),
                    _cbr(feat, feat, 11),
                    _cbr(feat, feat, 1),
                    _cbr(feat, num_joints, 1, act=False),
                )
                for _ in range(num_stages - 1)
            ]
        )

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        stages = [self.stem(x)]
        shared = self.middle(x)
        for middle_conv, stage in zip(self.middle_conv, self.cpm_stages, strict=True):
            stages.append(stage(torch.cat([middle_conv(shared), stages[-1]], 1)))
        return {"heatmaps": stages[-1], "stages": stages}
