"""Training losses: weighted heatmap MSE, OccNet's branch masks, multi-stage and CPN losses.

All losses follow the official recipes' normalisation: the mean over batch, joints and
pixels of ``0.5 * w * (pred - target)^2`` (SimpleBaseline's JointsMSELoss), so loss values
are comparable with the published training logs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from occbench.skeletons import Visibility


def weighted_mse(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """SimpleBaseline's JointsMSELoss with target weights: pred/target (B, K, h, w), weight (B, K)."""
    w = weight[..., None, None].to(pred.dtype)
    return 0.5 * ((pred * w - target * w) ** 2).mean()


def per_joint_mse(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(B, K) per-joint 0.5 * mean squared error, weighted."""
    w = weight[..., None, None].to(pred.dtype)
    return 0.5 * ((pred * w - target * w) ** 2).mean(dim=(-2, -1))


def ohkm_mse(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, top_k: int = 8) -> torch.Tensor:
    """Online hard keypoint mining (CPN's RefineNet): mean of the ``top_k`` worst joints per sample."""
    losses = per_joint_mse(pred, target, weight)
    k = min(top_k, losses.shape[1])
    return losses.topk(k, dim=1).values.mean()


def multi_stage_mse(stages: list[torch.Tensor], target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Intermediate supervision (Hourglass, CPM): every stage against the same target, summed."""
    return sum(weighted_mse(stage, target, weight) for stage in stages)


@dataclass(frozen=True)
class OccNetLossConfig:
    """OccNet / OccNetCB branch supervision (MODELS.md).

    ``variant="soft"``: each branch regresses the joint's Gaussian, masked to its own joints.
    ``variant="hard"``: the target is zeroed in the wrong branch and both branches are masked by
    all labelled joints, so a branch also learns to stay silent on the other branch's joints.
    """

    variant: str = "soft"
    occluded_weight: float = 1.5  # w in loss_vis + w * loss_occ (1.0 in the authors' CrowdPose yaml)
    # Visibility classes the visible branch learns; every other labelled class goes to the occluded
    # branch. The authors count self-occluded joints as visible.
    visible_classes: tuple[str, ...] = ("visible", "self_occluded")

    def split_classes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(visible, occluded) class codes for ``targets.visibility_split``."""
        labelled = ("visible", "occluded", "self_occluded", "labeled_unknown")
        unknown = set(self.visible_classes) - set(labelled)
        if unknown:
            raise ValueError(f"unknown visibility classes {sorted(unknown)}; use {', '.join(labelled)}")
        codes = {name: int(Visibility[name.upper()]) for name in labelled}
        visible = tuple(codes[c] for c in self.visible_classes)
        return visible, tuple(codes[c] for c in labelled if c not in self.visible_classes)


def occnet_loss(
    heatmaps_vis: torch.Tensor,
    heatmaps_occ: torch.Tensor,
    target: torch.Tensor,
    labelled_weight: torch.Tensor,
    visible_mask: torch.Tensor,
    occluded_mask: torch.Tensor,
    config: OccNetLossConfig = OccNetLossConfig(),
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """OccNet's total loss and its two parts. Masks are (B, K) floats; ``labelled_weight``
    already excludes joints that fell off the heatmap."""
    vis_w = labelled_weight * visible_mask
    occ_w = labelled_weight * occluded_mask
    if config.variant == "soft":
        loss_vis = weighted_mse(heatmaps_vis, target, vis_w)
        loss_occ = weighted_mse(heatmaps_occ, target, occ_w)
    elif config.variant == "hard":
        target_vis = target * visible_mask[..., None, None]
        target_occ = target * occluded_mask[..., None, None]
        loss_vis = weighted_mse(heatmaps_vis, target_vis, labelled_weight)
        loss_occ = weighted_mse(heatmaps_occ, target_occ, labelled_weight)
    else:
        raise ValueError(f"unknown OccNet loss variant {config.variant!r}; use 'soft' or 'hard'")
    total = loss_vis + config.occluded_weight * loss_occ
    return total, {"loss_vis": loss_vis.detach(), "loss_occ": loss_occ.detach()}


def cpn_loss(
    global_maps: list[torch.Tensor],
    refine_map: torch.Tensor,
    global_targets: list[torch.Tensor],
    refine_target: torch.Tensor,
    weight: torch.Tensor,
    top_k: int = 8,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """CPN: L2 on every GlobalNet level (each with its own Gaussian width) + RefineNet OHKM."""
    size = refine_target.shape[-2:]
    global_loss = sum(
        weighted_mse(
            m if m.shape[-2:] == size else F.interpolate(m, size=size, mode="bilinear", align_corners=False), t, weight
        )
        for m, t in zip(global_maps, global_targets, strict=True)
    )
    refine_loss = ohkm_mse(refine_map, refine_target, weight, top_k)
    return global_loss + refine_loss, {"loss_global": global_loss.detach(), "loss_refine": refine_loss.detach()}
