"""HRNet (Sun et al. 2019), the official ``pose_hrnet`` key layout.

Top level, in order: ``conv1, bn1, conv2, bn2`` (3x3/2 each), ``layer1`` (Bottlenecks 64 →
256), ``transition1, stage2, transition2, stage3, transition3, stage4, final_layer``. A
stage is a Sequential of HighResolutionModules with ``branches.{b}.{block}`` and
``fuse_layers.{i}.{j}``; the last module of stage 4 keeps only the highest resolution
(``fuse_layers.0``). A transition entry is ``None`` where the channel count is unchanged; a
new branch is ``Sequential(Sequential(conv 3x3/2, BN, ReLU))``. Official checkpoints load
strictly (the official test script's ``strict=False`` would hide mismatches).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from occbench.models.resnet import BN_MOMENTUM, BasicBlock, Bottleneck, init_pose_weights, make_stage

BLOCKS = {"BASIC": BasicBlock, "BOTTLENECK": Bottleneck}


@dataclass(frozen=True)
class StageConfig:
    num_modules: int
    num_blocks: tuple[int, ...]
    num_channels: tuple[int, ...]
    block: str = "BASIC"


@dataclass(frozen=True)
class HRNetConfig:
    stem_channels: int = 64
    layer1_planes: int = 64
    layer1_blocks: int = 4
    stage2: StageConfig = StageConfig(1, (4, 4), (32, 64))
    stage3: StageConfig = StageConfig(4, (4, 4, 4), (32, 64, 128))
    stage4: StageConfig = StageConfig(3, (4, 4, 4, 4), (32, 64, 128, 256))


def hrnet_config(width: int) -> HRNetConfig:
    """The official W32 / W48 configurations (channels width x [1, 2, 4, 8])."""
    c = (width, 2 * width, 4 * width, 8 * width)
    return HRNetConfig(
        stage2=StageConfig(1, (4, 4), c[:2]),
        stage3=StageConfig(4, (4, 4, 4), c[:3]),
        stage4=StageConfig(3, (4, 4, 4, 4), c),
    )


def _conv_bn(cin: int, cout: int, kernel: int, stride: int, relu: bool) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(cout, momentum=BN_MOMENTUM),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class HighResolutionModule(nn.Module):
    def __init__(
        self,
        block: type[nn.Module],
        num_blocks: tuple[int, ...],
        in_channels: list[int],
        num_channels: tuple[int, ...],
        multi_scale_output: bool = True,
    ) -> None:
        super().__init__()
        self.num_branches = len(num_channels)
        branches = []
        for b in range(self.num_branches):
            branch, out = make_stage(block, in_channels[b], num_channels[b], num_blocks[b])
            branches.append(branch)
            in_channels[b] = out
        self.branches = nn.ModuleList(branches)
        self.in_channels = in_channels
        fuse = []
        for i in range(self.num_branches if multi_scale_output else 1):
            row: list[nn.Module | None] = []
            for j in range(self.num_branches):
                if j > i:
                    row.append(
                        nn.Sequential(
                            nn.Conv2d(in_channels[j], in_channels[i], 1, 1, 0, bias=False),
                            nn.BatchNorm2d(in_channels[i], momentum=BN_MOMENTUM),
                            nn.Upsample(scale_factor=2 ** (j - i), mode="nearest"),
                        )
                    )
                elif j == i:
                    row.append(None)
                else:
                    steps = [
                        _conv_bn(
                            in_channels[j],
                            in_channels[i] if k == i - j - 1 else in_channels[j],
                            3,
                            2,
                            relu=k != i - j - 1,
                        )
                        for k in range(i - j)
                    ]
                    row.append(nn.Sequential(*steps))
            fuse.append(nn.ModuleList(row))
        self.fuse_layers = nn.ModuleList(fuse) if self.num_branches > 1 else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs, strict=True)]
        if self.fuse_layers is None:
            return xs
        out = []
        for row in self.fuse_layers:
            y = None
            for j, layer in enumerate(row):
                term = xs[j] if layer is None else layer(xs[j])
                y = term if y is None else y + term
            out.append(self.relu(y))
        return out


def _transition(pre: list[int], cur: tuple[int, ...]) -> nn.ModuleList:
    layers: list[nn.Module | None] = []
    for i, channels in enumerate(cur):
        if i < len(pre):
            layers.append(None if channels == pre[i] else _conv_bn(pre[i], channels, 3, 1, relu=True))
        else:
            steps = [
                _conv_bn(pre[-1], channels if j == i - len(pre) else pre[-1], 3, 2, relu=True)
                for j in range(i + 1 - len(pre))
            ]
            layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)


class PoseHighResolutionNet(nn.Module):
    def __init__(self, num_joints: int, config: HRNetConfig | None = None) -> None:
        super().__init__()
        cfg = config or HRNetConfig()
        stem = cfg.stem_channels
        self.conv1 = nn.Conv2d(3, stem, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(stem, stem, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(stem, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.layer1, channels = make_stage(Bottleneck, stem, cfg.layer1_planes, cfg.layer1_blocks)
        pre = [channels]
        for n, stage_cfg in ((1, cfg.stage2), (2, cfg.stage3), (3, cfg.stage4)):
            block = BLOCKS[stage_cfg.block]
            cur = tuple(c * block.expansion for c in stage_cfg.num_channels)
            setattr(self, f"transition{n}", _transition(pre, cur))
            modules = []
            in_channels = list(cur)
            for m in range(stage_cfg.num_modules):
                last = n == 3 and m == stage_cfg.num_modules - 1
                module = HighResolutionModule(
                    block, stage_cfg.num_blocks, in_channels, stage_cfg.num_channels, multi_scale_output=not last
                )
                in_channels = list(module.in_channels)
                modules.append(module)
            setattr(self, f"stage{n + 1}", nn.Sequential(*modules))
            pre = in_channels
        self.final_layer = nn.Conv2d(pre[0], num_joints, 1, 1, 0)
        init_pose_weights(self)

    @staticmethod
    def _run_stage(stage: nn.Sequential, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        for module in stage:
            xs = module(xs)
        return xs

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        ys = [self.layer1(x)]
        for transition, stage in (
            (self.transition1, self.stage2),
            (self.transition2, self.stage3),
            (self.transition3, self.stage4),
        ):
            xs = [
                (ys[i] if i < len(ys) else ys[-1]) if t is None else t(ys[i] if i < len(ys) else ys[-1])
                for i, t in enumerate(transition)
            ]
            ys = self._run_stage(stage, xs)
        heatmaps = self.final_layer(ys[0])
        return {"heatmaps": heatmaps, "stages": [heatmaps]}
