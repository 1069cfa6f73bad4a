"""Heatmap decoding on the device: flip test, argmax + quarter offset, DARK, OccNet's rule.

Every function takes batched (B, K, h, w) heatmaps and works without a Python loop over
persons or joints. Coordinates are heatmap pixel indices (x, y).

- ``flip_back`` / ``merge_flip``: the official flip test. The flipped crop's heatmaps are
  mirrored back, left/right channels swapped, shifted one pixel right
  (``out[..., 1:] = out[..., :-1]``; column 0 keeps its value) and averaged with the plain ones.
- ``argmax_decode``: the official rule. Argmax per map; where the max is ≤ 0 the coordinates
  are 0. With ``px = floor(x + 0.5)``, a ``sign(diff) * 0.25`` step toward the higher neighbour
  applies when ``1 < px < w - 1`` and ``1 < py < h - 1``.
- ``dark_decode``: DARK (Zhang et al. 2019). Blur with OpenCV's Gaussian (kernel 11 for 64×48
  maps, σ 2 from OpenCV's rule; ``dark_kernel_size`` for other sizes) over a zero border,
  rescale to keep the max, take ``log(max(h, 1e-10))`` and step ``-H⁻¹∇`` at the integer
  argmax where ``1 < px < w - 2``, ``1 < py < h - 2`` and ``det H ≠ 0`` (first derivatives
  ½-central, second derivatives with step 2, mixed ¼). Scores are the unblurred maxima.
- ``occnet_select``: OccNet's inference rule. Per joint, the argmax of ``vis + occ`` and the
  argmax of ``occ`` compete; the higher peak wins and the flag says whether ``occ`` won (ties
  go to the combined map). The winning map is then decoded like any other.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

DECODERS = ("argmax", "dark")


def dark_kernel_size(height: int) -> int:
    """The blur kernel for a heatmap height: 11 at 64 rows (DarkPose's 256×192), 17 at 96 (384×288).

    Official configs pair the kernel with the training target's σ (2 at 64 rows, 3 at 96), i.e.
    ``6σ − 1`` with ``σ = height / 32``; other sizes follow the same rule, rounded to an odd size ≥ 3.
    """
    size = round(6 * height / 32 - 1)
    return max(3, size if size % 2 else size + 1)


def flip_back(heatmaps: torch.Tensor, flip_permutation: torch.Tensor, shift: bool = True) -> torch.Tensor:
    """Heatmaps of a horizontally flipped crop, mapped back to the unflipped crop's frame."""
    out = heatmaps.flip(3)[:, flip_permutation]
    if shift:
        out = torch.cat([out[..., :1], out[..., :-1]], dim=3)
    return out


def merge_flip(
    heatmaps: torch.Tensor, flipped: torch.Tensor, flip_permutation: torch.Tensor, shift: bool = True
) -> torch.Tensor:
    """Average the plain heatmaps with the flipped crop's, mapped back."""
    return (heatmaps + flip_back(flipped, flip_permutation, shift)) * 0.5


def _as_float(heatmaps: torch.Tensor) -> torch.Tensor:
    """Half-precision maps (AMP) are decoded in float32; float64 stays float64."""
    return heatmaps if heatmaps.dtype in (torch.float32, torch.float64) else heatmaps.float()


def _peaks(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per map: max value and integer x, y of the first maximum (row-major); (0, 0) where max ≤ 0."""
    b, k, _, w = heatmaps.shape
    maxvals, index = heatmaps.reshape(b, k, -1).max(dim=2)
    index = torch.where(maxvals > 0, index, torch.zeros_like(index))
    return maxvals, index % w, torch.div(index, w, rounding_mode="floor")


def _at(heatmaps: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """heatmaps[b, k, y, x] for (B, K) index tensors, with indices clamped into the map."""
    _, _, h, w = heatmaps.shape
    flat = y.clamp(0, h - 1) * w + x.clamp(0, w - 1)
    return heatmaps.flatten(2).gather(2, flat.unsqueeze(2)).squeeze(2)


def argmax_decode(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, K, h, w) → coordinates (B, K, 2) float32 and scores (B, K), the official rule."""
    heatmaps = _as_float(heatmaps)
    _, _, h, w = heatmaps.shape
    maxvals, x, y = _peaks(heatmaps)
    # Coordinates are integers here, so floor(x + 0.5) is x itself.
    inside = (x > 1) & (x < w - 1) & (y > 1) & (y < h - 1)
    dx = torch.sign(_at(heatmaps, x + 1, y) - _at(heatmaps, x - 1, y))
    dy = torch.sign(_at(heatmaps, x, y + 1) - _at(heatmaps, x, y - 1))
    coords = torch.stack([x, y], dim=2).to(heatmaps.dtype)
    shift = torch.stack([dx, dy], dim=2) * 0.25
    coords = coords + torch.where(inside.unsqueeze(2), shift, torch.zeros_like(shift))
    return coords, maxvals


def opencv_gaussian_kernel(size: int) -> torch.Tensor:
    """OpenCV's ``getGaussianKernel(size, 0)`` in float64 on the CPU: σ = 0.3·((size − 1)·0.5 − 1) + 0.8."""
    sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    kernel = torch.exp(-(offsets**2) / (2 * sigma * sigma))
    return kernel / kernel.sum()


def _blur_keep_max(heatmaps: torch.Tensor, kernel_size: int) -> torch.Tensor:
    b, k, h, w = heatmaps.shape
    # Built in float64 on the CPU, then moved: MPS has no float64.
    kernel = opencv_gaussian_kernel(kernel_size).to(heatmaps.device, heatmaps.dtype)
    pad = (kernel_size - 1) // 2
    flat = heatmaps.reshape(b * k, 1, h, w)
    blurred = F.conv2d(flat, kernel.view(1, 1, 1, -1), padding=(0, pad))
    blurred = F.conv2d(blurred, kernel.view(1, 1, -1, 1), padding=(pad, 0)).view(b, k, h, w)
    orig_max = heatmaps.amax(dim=(2, 3), keepdim=True)
    new_max = blurred.amax(dim=(2, 3), keepdim=True)
    # An all-zero map stays zero (the official code would divide 0 by 0 there).
    ratio = torch.where(new_max != 0, orig_max / torch.where(new_max != 0, new_max, 1.0), 1.0)
    return blurred * ratio


def dark_decode(heatmaps: torch.Tensor, kernel_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, K, h, w) → coordinates (B, K, 2) and scores (B, K) with DARK's Taylor refinement.

    ``kernel_size`` defaults to ``dark_kernel_size(h)`` (11 for 64×48 maps).
    """
    heatmaps = _as_float(heatmaps)
    _, _, h, w = heatmaps.shape
    kernel_size = kernel_size or dark_kernel_size(h)
    maxvals, x, y = _peaks(heatmaps)
    logmap = torch.log(_blur_keep_max(heatmaps, kernel_size).clamp_min(1e-10))

    def at(ox: int, oy: int) -> torch.Tensor:
        return _at(logmap, x + ox, y + oy)

    center = at(0, 0)
    dx = 0.5 * (at(1, 0) - at(-1, 0))
    dy = 0.5 * (at(0, 1) - at(0, -1))
    dxx = 0.25 * (at(2, 0) - 2 * center + at(-2, 0))
    dyy = 0.25 * (at(0, 2) - 2 * center + at(0, -2))
    dxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    det = dxx * dyy - dxy * dxy
    inside = (x > 1) & (x < w - 2) & (y > 1) & (y < h - 2) & (det != 0)
    safe_det = torch.where(inside, det, torch.ones_like(det))
    # offset = -H⁻¹ ∇ with H⁻¹ = [[dyy, -dxy], [-dxy, dxx]] / det
    off_x = -(dyy * dx - dxy * dy) / safe_det
    off_y = -(-dxy * dx + dxx * dy) / safe_det
    offset = torch.where(inside.unsqueeze(2), torch.stack([off_x, off_y], 2), torch.zeros_like(center).unsqueeze(2))
    coords = torch.stack([x, y], dim=2).to(heatmaps.dtype) + offset
    return coords, maxvals


def decode_heatmaps(heatmaps: torch.Tensor, method: str = "argmax") -> tuple[torch.Tensor, torch.Tensor]:
    if method == "argmax":
        return argmax_decode(heatmaps)
    if method == "dark":
        return dark_decode(heatmaps)
    raise ValueError(f"unknown decoder {method!r}; known: {', '.join(DECODERS)}")


def occnet_select(vis: torch.Tensor, occ: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """OccNet's rule: per joint the map to decode (B, K, h, w) and the occlusion flag (B, K) int8."""
    vis, occ = _as_float(vis), _as_float(occ)
    combined = vis + occ
    occluded = occ.flatten(2).amax(dim=2) > combined.flatten(2).amax(dim=2)
    chosen = torch.where(occluded[..., None, None], occ, combined)
    return chosen, occluded.to(torch.int8)
