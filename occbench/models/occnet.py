"""OccNet and OccNetCB (Golda et al., AVSS 2019): visible and occluded heatmap branches.

The official code is TensorFlow with no PyTorch checkpoint, so names follow pose_resnet:
the ResNet trunk at top level, each deconv ``upN`` a Sequential [ConvTranspose 4x4/2, BN,
ReLU], each head ``out_*`` a 1x1 conv to K (no BN, no activation).

- OccNet: ``up1 → up2`` shared, then ``up3_vis → out_vis`` and ``up3_occ → out_occ``.
- OccNetCB (cross branch): ``up1`` shared, then ``up2_vis → up3_vis`` and ``up2_occ →
  up3_occ``; both 256-channel outputs are concatenated and feed both heads. With
  ``stop_gradient`` each head sees the other branch's features detached.

Output: ``heatmaps_vis``, ``heatmaps_occ`` and ``heatmaps`` = their sum (the map the OccNet
inference rule decodes first).
"""

from __future__ import annotations

import torch
from torch import nn

from occbench.models.resnet import RESNET_LAYERS, ResNetTrunk, deconv_stack, init_pose_weights


class OccNet(ResNetTrunk):
    def __init__(
        self,
        num_joints: int,
        depth: int = 50,
        width: int = 64,
        filters: int = 256,
        layers: tuple[int, int, int, int] | None = None,
    ) -> None:
        super().__init__(layers or RESNET_LAYERS[depth], width=width)
        self.up1 = deconv_stack(self.out_channels[-1], filters, 1)
        self.up2 = deconv_stack(filters, filters, 1)
        self.up3_vis = deconv_stack(filters, filters, 1)
        self.up3_occ = deconv_stack(filters, filters, 1)
        self.out_vis = nn.Conv2d(filters, num_joints, 1)
        self.out_occ = nn.Conv2d(filters, num_joints, 1)
        for head in (self.up1, self.up2, self.up3_vis, self.up3_occ, self.out_vis, self.out_occ):
            init_pose_weights(head)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        shared = self.up2(self.up1(self.forward_features(x)[-1]))
        vis = self.out_vis(self.up3_vis(shared))
        occ = self.out_occ(self.up3_occ(shared))
        combined = vis + occ
        return {"heatmaps": combined, "heatmaps_vis": vis, "heatmaps_occ": occ, "stages": [combined]}


class OccNetCB(ResNetTrunk):
    def __init__(
        self,
        num_joints: int,
        depth: int = 50,
        width: int = 64,
        filters: int = 256,
        layers: tuple[int, int, int, int] | None = None,
        stop_gradient: bool = False,
    ) -> None:
        super().__init__(layers or RESNET_LAYERS[depth], width=width)
        self.stop_gradient = stop_gradient
        self.up1 = deconv_stack(self.out_channels[-1], filters, 1)
        self.up2_vis = deconv_stack(filters, filters, 1)
        self.up3_vis = deconv_stack(filters, filters, 1)
        self.up2_occ = deconv_stack(filters, filters, 1)
        self.up3_occ = deconv_stack(filters, filters, 1)
        self.out_vis = nn.Conv2d(2 * filters, num_joints, 1)
        self.out_occ = nn.Conv2d(2 * filters, num_joints, 1)
        for head in (self.up1, self.up2_vis, self.up3_vis, self.up2_occ, self.up3_occ, self.out_vis, self.out_occ):
            init_pose_weights(head)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        shared = self.up1(self.forward_features(x)[-1])
        f_vis = self.up3_vis(self.up2_vis(shared))
        f_occ = self.up3_occ(self.up2_occ(shared))
        if self.stop_gradient:
            vis = self.out_vis(torch.cat([f_vis, f_occ.detach()], 1))
            occ = self.out_occ(torch.cat([f_vis.detach(), f_occ], 1))
        else:
            both = torch.cat([f_vis, f_occ], 1)
            vis, occ = self.out_vis(both), self.out_occ(both)
        combined = vis + occ
        return {"heatmaps": combined, "heatmaps_vis": vis, "heatmaps_occ": occ, "stages": [combined]}
