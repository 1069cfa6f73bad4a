"""The adapter between the model zoo and the pipeline: a module plus its input conventions.

``TopDownModel`` carries what the pipeline needs to feed a network and read it: the input
size, the checkpoint's channel order and normalisation (``(pixel · scale − mean) / std`` on
0–255 pixels), and provenance. ``resolve_model`` builds one from the zoo's registry
(``occbench.models.registry``) and loads a checkpoint strictly; tests and users with their
own ``nn.Module`` construct ``TopDownModel`` directly.

Network outputs follow the zoo's contract: a dict with ``"heatmaps"`` (B, K, h, w), and for
OccNet/OccNetCB also ``"heatmaps_vis"`` and ``"heatmaps_occ"``. A bare tensor is read as the
heatmaps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from occbench.errors import OccbenchError
from occbench.fileio import sha256_file

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CHANNEL_ORDERS = ("RGB", "BGR")


@dataclass
class TopDownModel:
    module: nn.Module
    name: str
    input_size: tuple[int, int]  # (height, width)
    channel_order: str = "RGB"
    scale: float = 1.0 / 255.0
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    family: str = ""
    checkpoint: str | None = None
    checkpoint_sha256: str | None = None

    def __post_init__(self) -> None:
        if self.channel_order not in CHANNEL_ORDERS:
            raise OccbenchError(f"channel order must be RGB or BGR, not {self.channel_order!r}", field="channel_order")

    @property
    def aspect_ratio(self) -> float:
        return self.input_size[1] / self.input_size[0]

    def normalisation(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(1, 3, 1, 1) multiplier and offset: normalised = pixel · a + b."""
        std = torch.tensor(self.std, dtype=torch.float32, device=device)
        a = self.scale / std
        b = -torch.tensor(self.mean, dtype=torch.float32, device=device) / std
        return a.view(1, 3, 1, 1), b.view(1, 3, 1, 1)

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "family": self.family,
            "checkpoint": self.checkpoint,
            "checkpoint_sha256": self.checkpoint_sha256,
            "input_size": list(self.input_size),
            "channel_order": self.channel_order,
            "input_scale": self.scale,
            "input_mean": list(self.mean),
            "input_std": list(self.std),
        }


def split_outputs(output: Any) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """(heatmaps, heatmaps_vis, heatmaps_occ) from a network's output (the last two may be None)."""
    if isinstance(output, torch.Tensor):
        return output, None, None
    if isinstance(output, dict):
        if "heatmaps_vis" in output and "heatmaps_occ" in output:
            vis, occ = output["heatmaps_vis"], output["heatmaps_occ"]
            return output.get("heatmaps", vis + occ), vis, occ
        if "heatmaps" in output:
            return output["heatmaps"], None, None
    raise TypeError("model output must be a tensor or a dict with 'heatmaps'")


def resolve_model(
    name: str,
    num_joints: int,
    checkpoint: str | Path | None = None,
    input_size: tuple[int, int] | None = None,
    channel_order: str | None = None,
) -> TopDownModel:
    """Build a zoo model for ``num_joints`` joints, load a checkpoint strictly, and wrap it.

    The input normalisation is the zoo's default for the model, replaced by the one a
    checkpoint carries (safetensors metadata or a sidecar JSON); ``channel_order`` overrides both.
    """
    from occbench.models import registry

    spec = registry.get_spec(name)
    size = tuple(input_size or spec.input_size)
    module = registry.build_model(name, num_joints, input_size=size)  # type: ignore[arg-type]
    norm = spec.norm
    sha = None
    if checkpoint is not None:
        path = Path(checkpoint)
        if not path.is_file():
            raise OccbenchError("checkpoint not found", file=path, field="--checkpoint")
        report = registry.load_checkpoint(module, path, strict=True)
        if report.norm is not None:
            try:
                norm = registry.InputNorm.from_dict(report.norm)
            except (KeyError, TypeError, ValueError) as exc:
                raise OccbenchError(f"bad input normalisation: {exc}", file=path, field="norm") from None
        sha = sha256_file(path)
    return TopDownModel(
        module=module,
        name=name,
        input_size=size,  # type: ignore[arg-type]
        channel_order=channel_order or norm.channel_order,
        scale=float(norm.scale),
        mean=tuple(norm.mean),  # type: ignore[arg-type]
        std=tuple(norm.std),  # type: ignore[arg-type]
        family=spec.family,
        checkpoint=None if checkpoint is None else str(checkpoint),
        checkpoint_sha256=sha,
    )
