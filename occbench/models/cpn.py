"""Cascaded Pyramid Network (Chen et al. 2018) in the GengDavid/pytorch-cpn key layout.

``resnet.*`` is a ResNet trunk without ``fc`` giving C2..C5. ``global_net``: per level
(C5, C4, C3, C2) a ``laterals`` 1x1 → 256 + BN + ReLU; top-down ``upsamples`` (bilinear x2,
1x1 conv, BN) added to the next lateral; per level a ``predict`` head (1x1 256 + BN + ReLU,
3x3 → K, bilinear resize to the output size, BN). ``refine_net``: per level a ``cascade`` of
3/2/1/0 Bottlenecks (256 → 128 → 256, expansion 2, always with a projection ``downsample``)
resized to the output size, concatenated (4 x 256), then ``final_predict`` (Bottleneck, 3x3
→ K, BN). Checkpoints (``checkpoint['state_dict']``, prefix ``module.``) load strictly.

The output size is input / 4, taken from the input at run time: pytorch-cpn bakes it into
``nn.Upsample(size=...)`` modules, so one model would run at one input size only. Ours puts a
parameterless ``Resize`` at the same Sequential index, so keys and outputs are unchanged and
one model (one checkpoint) runs at 256x192, 384x288 or any multiple of 32.

Output: ``stages`` = the four GlobalNet maps (coarse to fine, already at the output size)
then the RefineNet map; ``heatmaps`` = the RefineNet map.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from occbench.models.resnet import RESNET_LAYERS, ResNetTrunk


class Resize(nn.Module):
    """Bilinear resize (align_corners=True, as pytorch-cpn) to a size given at call time."""

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if tuple(x.shape[-2:]) == tuple(size):
            return x
        return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


def _run(seq: nn.Sequential, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Run a Sequential, passing the output size to its Resize entries."""
    for module in seq:
        x = module(x, size) if isinstance(module, Resize) else module(x)
    return x


class RefineBottleneck(nn.Module):
    expansion = 2

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + self.downsample(x))


class GlobalNet(nn.Module):
    def __init__(self, channel_settings: list[int], num_joints: int, lateral: int = 256) -> None:
        super().__init__()
        self.laterals = nn.ModuleList(
            [
                nn.Sequential(nn.Conv2d(c, lateral, 1, bias=False), nn.BatchNorm2d(lateral), nn.ReLU(inplace=True))
                for c in channel_settings
            ]
        )
        self.upsamples = nn.ModuleList(
            [
                nn.Sequential(
                    nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
                    nn.Conv2d(lateral, lateral, 1, bias=False),
                    nn.BatchNorm2d(lateral),
                )
                for _ in channel_settings[:-1]
            ]
        )
        self.predict = nn.ModuleList(
            [
                nn.Sequential(
                    nn.Conv2d(lateral, lateral, 1, bias=False),
                    nn.BatchNorm2d(lateral),
                    nn.ReLU(inplace=True),
                    nn.Conv2d(lateral, num_joints, 3, padding=1, bias=False),
                    Resize(),
                    nn.BatchNorm2d(num_joints),
                )
                for _ in channel_settings
            ]
        )

    def forward(
        self, features: list[torch.Tensor], size: tuple[int, int]
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        fms, outs = [], []
        up = None
        for i, x in enumerate(features):
            feature = self.laterals[i](x) if up is None else self.laterals[i](x) + up
            fms.append(feature)
            if i < len(self.upsamples):
                up = self.upsamples[i](feature)
            outs.append(_run(self.predict[i], feature, size))
        return fms, outs


class RefineNet(nn.Module):
    def __init__(self, lateral: int, num_joints: int, levels: int = 4) -> None:
        super().__init__()
        self.cascade = nn.ModuleList(
            [
                nn.Sequential(
                    *[RefineBottleneck(lateral, lateral // 2) for _ in range(levels - i - 1)],
                    Resize(),
                )
                for i in range(levels)
            ]
        )
        self.final_predict = nn.Sequential(
            RefineBottleneck(levels * lateral, lateral // 2),
            nn.Conv2d(lateral, num_joints, 3, padding=1, bias=False),
            nn.BatchNorm2d(num_joints),
        )

    def forward(self, fms: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        return self.final_predict(torch.cat([_run(c, f, size) for c, f in zip(self.cascade, fms, strict=True)], 1))


class CPN(nn.Module):
    def __init__(
        self,
        num_joints: int,
        depth: int = 50,
        width: int = 64,
        lateral: int = 256,
        layers: tuple[int, int, int, int] | None = None,
    ) -> None:
        super().__init__()
        self.resnet = ResNetTrunk(layers or RESNET_LAYERS[depth], width=width)
        channel_settings = self.resnet.out_channels[::-1]  # C5 .. C2
        self.global_net = GlobalNet(channel_settings, num_joints, lateral)
        self.refine_net = RefineNet(lateral, num_joints)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        size = (x.shape[-2] // 4, x.shape[-1] // 4)  # heatmaps at input / 4
        fms, global_outs = self.global_net(self.resnet(x)[::-1], size)
        refine = self.refine_net(fms, size)
        return {"heatmaps": refine, "stages": [*global_outs, refine]}
