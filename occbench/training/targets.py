"""Heatmap targets and per-joint target weights for top-down training.

Targets are Gaussians (σ = 2 at 1/4 resolution by default) centred on each joint's position
in heatmap space. Two encodings:

- ``"official"`` (SimpleBaseline/HRNet): the centre is rounded to the nearest heatmap pixel
  (``int(x + 0.5)``), and a joint whose 3σ window leaves the map entirely gets weight 0;
- ``"unbiased"`` (DARK): the Gaussian is evaluated at the exact float position, no rounding.

Target weights come from the visibility classes: a joint is trained when its class is in
``trained_classes`` (default: every labelled class; ``truncated`` joints, off-screen in JTA,
and ``unlabeled`` ones are not) and it lies on the heatmap after augmentation.

CPN's GlobalNet uses Gaussians of different widths per pyramid level; ``cpn_sigmas``
converts its published blur kernel sizes (15/11/9/7) with OpenCV's rule
σ = 0.3 * ((k - 1) * 0.5 - 1) + 0.8.

Everything is vectorised over the batch and joints, on any device.
"""

from __future__ import annotations

import torch

from occbench.skeletons import LABELLED_CLASSES, Visibility

DEFAULT_TRAINED_CLASSES: tuple[int, ...] = tuple(int(c) for c in LABELLED_CLASSES)
CPN_KERNELS = (15, 11, 9, 7)  # coarse to fine


def opencv_sigma(kernel_size: int) -> float:
    """The σ OpenCV's GaussianBlur uses for a kernel size when σ is 0."""
    return 0.3 * ((kernel_size - 1) * 0.5 - 1) + 0.8


def cpn_sigmas() -> tuple[float, ...]:
    return tuple(opencv_sigma(k) for k in CPN_KERNELS)


def joint_weights(visibility: torch.Tensor, trained_classes: tuple[int, ...] = DEFAULT_TRAINED_CLASSES) -> torch.Tensor:
    """(B, K) float weights: 1 where the joint's class is trained."""
    classes = torch.tensor(trained_classes, dtype=visibility.dtype, device=visibility.device)
    return torch.isin(visibility, classes).to(torch.float32)


def gaussian_heatmaps(
    joints_hm: torch.Tensor,
    weights: torch.Tensor,
    heatmap_size: tuple[int, int],
    sigma: float = 2.0,
    encoding: str = "official",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian targets for joints already in heatmap coordinates.

    ``joints_hm`` is (B, K, 2) (x, y) in heatmap pixels, ``weights`` (B, K). Returns the
    targets (B, K, h, w) and the final weights (B, K): weights are zeroed where the joint
    does not touch the map (the official rule: the 3σ window lies entirely outside).
    """
    h, w = heatmap_size
    x, y = joints_hm[..., 0], joints_hm[..., 1]
    if encoding == "official":
        cx, cy = torch.floor(x + 0.5), torch.floor(y + 0.5)
    elif encoding == "unbiased":
        cx, cy = x, y
    else:
        raise ValueError(f"unknown target encoding {encoding!r}; use 'official' or 'unbiased'")
    radius = 3 * sigma
    outside = (cx - radius >= w) | (cy - radius >= h) | (cx + radius + 1 <= 0) | (cy + radius + 1 <= 0)
    outside |= ~torch.isfinite(x) | ~torch.isfinite(y)
    weights = weights * (~outside).to(weights.dtype)
    xs = torch.arange(w, device=joints_hm.device, dtype=torch.float32)
    ys = torch.arange(h, device=joints_hm.device, dtype=torch.float32)
    gx = torch.exp(-((xs[None, None, :] - cx[..., None]) ** 2) / (2 * sigma**2))  # (B, K, w)
    gy = torch.exp(-((ys[None, None, :] - cy[..., None]) ** 2) / (2 * sigma**2))  # (B, K, h)
    if encoding == "official":
        # The official code paints only the (6σ+1)-wide window around the rounded centre.
        gx = gx * ((xs[None, None, :] - cx[..., None]).abs() <= radius)
        gy = gy * ((ys[None, None, :] - cy[..., None]).abs() <= radius)
    targets = gy[..., :, None] * gx[..., None, :]
    targets = targets * (weights > 0)[..., None, None].to(targets.dtype)
    return targets, weights


def visibility_split(
    visibility: torch.Tensor,
    visible_classes: tuple[int, ...] = (int(Visibility.VISIBLE), int(Visibility.SELF_OCCLUDED)),
    occluded_classes: tuple[int, ...] = (int(Visibility.OCCLUDED), int(Visibility.LABELED_UNKNOWN)),
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, K) float masks of the joints OccNet's visible and occluded branches learn.

    The defaults follow the OccNet authors: self-occluded joints count as visible (their JTA
    export wrote them as v=3 and trained them in the visible branch), and every COCO v=1 joint
    goes to the occluded branch, which on CrowdPose includes the head and neck
    (``labeled_unknown``).
    """
    vis = torch.isin(visibility, torch.tensor(visible_classes, dtype=visibility.dtype, device=visibility.device))
    occ = torch.isin(visibility, torch.tensor(occluded_classes, dtype=visibility.dtype, device=visibility.device))
    return vis.to(torch.float32), occ.to(torch.float32)
