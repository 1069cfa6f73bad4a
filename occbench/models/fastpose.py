"""RMPE's SPPE as AlphaPose's FastPose: SE-ResNet-50 + DUC upsampling head.

Keys: ``preact.*`` (ResNet trunk with squeeze-excitation, reduction 1, only in block 0 of each
stage: ``preact.layerN.0.se.fc.{0,2}``), ``duc1``/``duc2`` (``conv`` 3x3 + ``bn`` + ReLU +
PixelShuffle(2)) and ``conv_out`` (3x3 → K). Head: PixelShuffle(2) → duc1 (512 → 1024) →
duc2 (256 → 512) → conv_out (128 → K). Input RGB / 255 − (0.406, 0.457, 0.480).
The SSTN of the original Caffe RMPE is not part of AlphaPose's PyTorch code (maintainers'
statements), so it is not offered.
"""

from __future__ import annotations

import torch
from torch import nn

from occbench.models.resnet import BN_MOMENTUM, RESNET_LAYERS, ResNetTrunk


class DUC(nn.Module):
    def __init__(self, inplanes: int, planes: int, upscale_factor: int = 2) -> None:
        super().__init__()
        self.conv = nn.Conv2d(inplanes, planes, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.pixel_shuffle = nn.PixelShuffle(upscale_factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pixel_shuffle(self.relu(self.bn(self.conv(x))))


class FastPose(nn.Module):
    def __init__(
        self, num_joints: int, depth: int = 50, width: int = 64, layers: tuple[int, int, int, int] | None = None
    ) -> None:
        super().__init__()
        self.preact = ResNetTrunk(layers or RESNET_LAYERS[depth], width=width, se_first_block=True)
        c5 = self.preact.out_channels[-1]
        self.suffle1 = nn.PixelShuffle(2)  # sic: AlphaPose's attribute name
        self.duc1 = DUC(c5 // 4, c5 // 2)
        self.duc2 = DUC(c5 // 8, c5 // 4)
        self.conv_out = nn.Conv2d(c5 // 16, num_joints, 3, padding=1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        out = self.suffle1(self.preact(x)[-1])
        heatmaps = self.conv_out(self.duc2(self.duc1(out)))
        return {"heatmaps": heatmaps, "stages": [heatmaps]}
