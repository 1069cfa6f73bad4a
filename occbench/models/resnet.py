"""ResNet and SE-ResNet trunks with torchvision-compatible names (no torchvision dependency).

``ResNetTrunk`` has the modules ``conv1, bn1, relu, maxpool, layer1..layer4`` and
torchvision's Bottleneck naming (``conv1..3, bn1..3, downsample.0/1``), so official
pose_resnet, CPN and FastPose checkpoints load into it. ``width`` scales every channel
count (64 for the real models; small values give the tiny variants), and ``se_first_block``
adds AlphaPose's squeeze-excitation (reduction 1) to block 0 of each stage.
"""

from __future__ import annotations

import torch
from torch import nn

BN_MOMENTUM = 0.1
RESNET_LAYERS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


class SELayer(nn.Module):
    """AlphaPose's squeeze-excitation: ``fc = Linear, ReLU, Linear, Sigmoid``."""

    def __init__(self, channels: int, reduction: int = 1) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(channels, channels // reduction),
            nn.ReLU(inplace=True),
            nn.Linear(channels // reduction, channels),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        return x * self.fc(self.avg_pool(x).view(b, c)).view(b, c, 1, 1)


class Bottleneck(nn.Module):
    """torchvision's Bottleneck (stride on the 3x3 conv), optionally with SE before the sum."""

    expansion = 4

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None, se: bool = False
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        if se:
            self.se = SELayer(planes * self.expansion)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if hasattr(self, "se"):
            out = self.se(out)
        return self.relu(out + residual)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


def make_stage(
    block: type[nn.Module], inplanes: int, planes: int, blocks: int, stride: int = 1, se_first_block: bool = False
) -> tuple[nn.Sequential, int]:
    """A ResNet stage; the first block downsamples (1x1 conv + BN) when shape changes."""
    downsample = None
    out_planes = planes * block.expansion
    if stride != 1 or inplanes != out_planes:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, out_planes, 1, stride=stride, bias=False),
            nn.BatchNorm2d(out_planes, momentum=BN_MOMENTUM),
        )
    extra = {"se": True} if se_first_block else {}
    layers = [block(inplanes, planes, stride, downsample, **extra)]
    layers += [block(out_planes, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers), out_planes


class ResNetTrunk(nn.Module):
    """conv1 7x7/2 → maxpool → layer1..4; ``forward`` returns [C2, C3, C4, C5]."""

    def __init__(
        self,
        layers: tuple[int, int, int, int],
        width: int = 64,
        block: type[nn.Module] = Bottleneck,
        se_first_block: bool = False,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = width
        stages = []
        for i, blocks in enumerate(layers):
            stage, channels = make_stage(
                block, channels, width * 2**i, blocks, stride=1 if i == 0 else 2, se_first_block=se_first_block
            )
            stages.append(stage)
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.out_channels = [width * 2**i * block.expansion for i in range(4)]

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c2 = self.layer1(x)
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        return [c2, c3, c4, c5]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.forward_features(x)


def deconv_stack(in_channels: int, filters: int, num_layers: int) -> nn.Sequential:
    """SimpleBaseline's ``deconv_layers``: [ConvTranspose 4x4/2, BN, ReLU] x n in one Sequential."""
    layers: list[nn.Module] = []
    for _ in range(num_layers):
        layers += [
            nn.ConvTranspose2d(in_channels, filters, 4, stride=2, padding=1, output_padding=0, bias=False),
            nn.BatchNorm2d(filters, momentum=BN_MOMENTUM),
            nn.ReLU(inplace=True),
        ]
        in_channels = filters
    return nn.Sequential(*layers)


def init_pose_weights(module: nn.Module) -> None:
    """The official heads' initialisation: N(0, 0.001) convs, BN weight 1 / bias 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, std=0.001)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
