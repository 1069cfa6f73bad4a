"""SimpleBaseline (Xiao et al. 2018), the official ``pose_resnet`` key layout.

Top level: ``conv1, bn1, layer1..4`` (torchvision ResNet), ``deconv_layers`` (one Sequential
of 3 x [ConvTranspose 4x4/2, BN, ReLU], parameters at indices 0/1, 3/4, 6/7) and
``final_layer`` (1x1 conv to K, with bias). Official checkpoints load strictly.
"""

from __future__ import annotations

import torch
from torch import nn

from occbench.models.resnet import RESNET_LAYERS, ResNetTrunk, deconv_stack, init_pose_weights


class PoseResNet(ResNetTrunk):
    def __init__(
        self,
        num_joints: int,
        depth: int = 50,
        width: int = 64,
        deconv_filters: int = 256,
        layers: tuple[int, int, int, int] | None = None,
    ) -> None:
        super().__init__(layers or RESNET_LAYERS[depth], width=width)
        self.deconv_layers = deconv_stack(self.out_channels[-1], deconv_filters, 3)
        self.final_layer = nn.Conv2d(deconv_filters, num_joints, 1)
        init_pose_weights(self.deconv_layers)
        init_pose_weights(self.final_layer)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        heatmaps = self.final_layer(self.deconv_layers(self.forward_features(x)[-1]))
        return {"heatmaps": heatmaps, "stages": [heatmaps]}
