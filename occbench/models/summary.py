"""``occbench models``: the zoo with input/heatmap sizes, parameter counts and GFLOPs.

GFLOPs are counted by ``torch.utils.flop_counter`` on the meta device (no memory, no
compute), at each model's standard input, as 2 x multiply-accumulates / 1e9 of one forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from occbench.models.registry import MODELS, ModelSpec


@dataclass(frozen=True)
class ModelSummary:
    name: str
    family: str
    input_size: tuple[int, int]
    heatmap_size: tuple[int, int]
    params: int
    gflops: float
    description: str


def summarize(spec: ModelSpec, num_joints: int = 17) -> ModelSummary:
    with torch.device("meta"):
        model = spec.build(num_joints).eval()
        x = torch.zeros(1, 3, *spec.input_size)
        with FlopCounterMode(display=False) as counter:
            model(x)
    params = sum(p.numel() for p in model.parameters())
    return ModelSummary(
        spec.name,
        spec.family,
        spec.input_size,
        spec.heatmap_size,
        params,
        counter.get_total_flops() / 1e9,
        spec.description,
    )


def summarize_all(num_joints: int = 17) -> list[ModelSummary]:
    return [summarize(spec, num_joints) for spec in MODELS.values()]
