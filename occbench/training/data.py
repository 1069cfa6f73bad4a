"""Top-down training samples: pre-crops decoded by workers, augmentation on the device.

Each sample is one person of a unified dataset split (non-crowd, with at least one trained
joint). A DataLoader worker decodes the image and cuts a square *pre-crop* around the
person, large enough for any augmentation (scale up to the configured maximum, any
rotation), resized to a fixed side. The worker does no random work, so data order and
augmentation depend only on the seed and the step, not on the number of workers.

On the device, ``augment_batch`` draws the augmentation (scale, rotation, flip, optionally
half-body) from a generator seeded by (seed, step), builds one affine per sample with the
official convention (``occbench.inference.geometry``), samples all crops in one
``grid_sample`` call, maps the joints through the same affine, and makes the Gaussian
targets and weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset as TorchDataset

from occbench.datasets.format import SplitData
from occbench.datasets.media import load_image_rgb
from occbench.datasets.store import Dataset
from occbench.inference.geometry import affine_matrices, box_to_center_scale, sampling_grids
from occbench.skeletons import JointSchema
from occbench.training.targets import DEFAULT_TRAINED_CLASSES, gaussian_heatmaps

PRECROP_SIDE = 384  # pixels of the square pre-crop a worker hands over


@dataclass(frozen=True)
class AugmentConfig:
    """The SimpleBaseline / OccNet recipe (MODELS.md) plus optional half-body."""

    scale_factor: float = 0.35  # scale = clip(N * sf + 1, 1 - sf, 1 + sf)
    rotation_factor: float = 40.0  # rotation = clip(N * rf, -2 rf, 2 rf) with probability rotation_prob
    rotation_prob: float = 0.6
    flip_prob: float = 0.5
    half_body_prob: float = 0.0  # HRNet's half-body augmentation (0.3 in its yamls); off by default
    half_body_min_joints: int = 8

    @property
    def max_scale(self) -> float:
        return 1.0 + self.scale_factor


@dataclass
class SampleIndex:
    """The persons a split trains on, with their image and box."""

    image_index: np.ndarray  # (N,) row of the images table
    instance_index: np.ndarray  # (N,) row of the instances table
    center: np.ndarray  # (N, 2)
    scale: np.ndarray  # (N, 2)


def trainable_instances(data: SplitData, trained_classes: tuple[int, ...] = DEFAULT_TRAINED_CLASSES) -> np.ndarray:
    """Rows of non-crowd persons with at least one trained joint and a positive box."""
    inst = data.instances
    has_joint = np.isin(data.visibility, np.asarray(trained_classes, dtype=data.visibility.dtype)).any(axis=1)
    positive = (inst["bbox_w"].to_numpy() > 0) & (inst["bbox_h"].to_numpy() > 0)
    return np.flatnonzero(~inst["iscrowd"].to_numpy() & has_joint & positive)


def build_index(
    data: SplitData, aspect_ratio: float, trained_classes: tuple[int, ...] = DEFAULT_TRAINED_CLASSES
) -> SampleIndex:
    rows = trainable_instances(data, trained_classes)
    inst = data.instances.iloc[rows]
    image_row = data.images.reset_index(drop=True).reset_index().set_index("image_id")["index"]
    boxes = inst[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].to_numpy()
    center, scale = box_to_center_scale(boxes, aspect_ratio)
    return SampleIndex(image_row.loc[inst["image_id"]].to_numpy(), rows, center, scale)


def precrop_box(center: np.ndarray, scale: np.ndarray, max_scale: float) -> np.ndarray:
    """(N, 4) square regions x0, y0, side, side covering every augmented crop (any rotation)."""
    half = 0.5 * np.hypot(scale[:, 0], scale[:, 1]) * 200.0 * max_scale
    return np.stack([center[:, 0] - half, center[:, 1] - half, 2 * half, 2 * half], axis=1)


class PrecropDataset(TorchDataset):
    """Worker side: decode an image, return the fixed-size pre-crop around one person."""

    def __init__(
        self,
        dataset: Dataset,
        data: SplitData,
        index: SampleIndex,
        max_scale: float,
        side: int = PRECROP_SIDE,
        image_root: str | Path | None = None,
    ) -> None:
        self.files = [dataset.image_path(f, image_root) for f in data.images["file_name"]]
        self.index = index
        self.regions = precrop_box(index.center, index.scale, max_scale)
        self.side = side

    def __len__(self) -> int:
        return len(self.index.image_index)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x0, y0, size, _ = self.regions[i]
        image = Image.fromarray(load_image_rgb(self.files[self.index.image_index[i]]))
        crop = image.crop((x0, y0, x0 + size, y0 + size))
        crop = crop.resize((self.side, self.side), Image.BILINEAR) if round(size) != self.side else crop
        return torch.from_numpy(np.asarray(crop, dtype=np.uint8).copy()).permute(2, 0, 1), i


@dataclass
class Batch:
    images: torch.Tensor  # (B, 3, H, W) normalised model input
    targets: torch.Tensor  # (B, K, h, w)
    weights: torch.Tensor  # (B, K)
    visibility: torch.Tensor  # (B, K) classes after flip
    joints: torch.Tensor  # (B, K, 2) joints in heatmap coordinates


def sample_augmentation(n: int, config: AugmentConfig, generator: torch.Generator) -> dict[str, np.ndarray]:
    """Per-sample scale multiplier, rotation (degrees) and flip flag, drawn in the main process."""
    draws = torch.randn(n, 2, generator=generator, dtype=torch.float64).numpy()
    uniforms = torch.rand(n, 3, generator=generator, dtype=torch.float64).numpy()
    sf, rf = config.scale_factor, config.rotation_factor
    scale = np.clip(draws[:, 0] * sf + 1.0, 1.0 - sf, 1.0 + sf)
    rotation = np.where(uniforms[:, 0] < config.rotation_prob, np.clip(draws[:, 1] * rf, -2 * rf, 2 * rf), 0.0)
    flip = uniforms[:, 1] < config.flip_prob
    half_body = uniforms[:, 2] < config.half_body_prob
    return {"scale": scale, "rotation": rotation, "flip": flip, "half_body": half_body}


def half_body_center_scale(
    joints: np.ndarray, trained: np.ndarray, schema: JointSchema, aspect_ratio: float, upper: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """HRNet's half-body box: the upper (or lower) body's trained joints, padded 1.5x."""
    upper_joint = np.array([("hip" not in n and "knee" not in n and "ankle" not in n) for n in schema.joint_names])
    chosen = trained & np.where(upper[:, None], upper_joint[None, :], ~upper_joint[None, :])
    ok = chosen.sum(axis=1) >= 2
    big = 1e9
    x0 = np.where(chosen, joints[..., 0], big).min(1)
    y0 = np.where(chosen, joints[..., 1], big).min(1)
    x1 = np.where(chosen, joints[..., 0], -big).max(1)
    y1 = np.where(chosen, joints[..., 1], -big).max(1)
    boxes = np.stack([x0, y0, np.maximum(x1 - x0, 1), np.maximum(y1 - y0, 1)], 1)
    center, scale = box_to_center_scale(np.where(ok[:, None], boxes, 0), aspect_ratio, padding=1.25 * 1.5)
    return center, scale, ok


def augment_batch(
    precrops: torch.Tensor,
    sample_ids: np.ndarray,
    data: SplitData,
    index: SampleIndex,
    regions: np.ndarray,
    schema: JointSchema,
    input_size: tuple[int, int],
    heatmap_size: tuple[int, int],
    mean: torch.Tensor,
    std: torch.Tensor,
    bgr: bool,
    config: AugmentConfig,
    generator: torch.Generator,
    sigma: float = 2.0,
    encoding: str = "official",
    trained_classes: tuple[int, ...] = DEFAULT_TRAINED_CLASSES,
    augment: bool = True,
) -> Batch:
    """Crop, augment and normalise a batch of pre-crops; make targets. ``input_size`` is (H, W)."""
    device = precrops.device
    n = len(sample_ids)
    in_h, in_w = input_size
    hm_h, hm_w = heatmap_size
    rows = index.instance_index[sample_ids]
    joints = data.keypoints[rows].astype(np.float64)
    visibility = data.visibility[rows].astype(np.int64)
    trained = np.isin(visibility, np.asarray(trained_classes))
    center = index.center[sample_ids].copy()
    scale = index.scale[sample_ids].copy()

    aug = (
        sample_augmentation(n, config, generator)
        if augment
        else {"scale": np.ones(n), "rotation": np.zeros(n), "flip": np.zeros(n, bool), "half_body": np.zeros(n, bool)}
    )
    if augment and config.half_body_prob > 0:
        enough = trained.sum(1) > config.half_body_min_joints
        upper = torch.rand(n, generator=generator, dtype=torch.float64).numpy() < 0.5
        hb_center, hb_scale, ok = half_body_center_scale(joints, trained, schema, in_w / in_h, upper)
        use = aug["half_body"] & enough & ok
        center[use], scale[use] = hb_center[use], hb_scale[use]
    scale = scale * aug["scale"][:, None]

    # Image -> input crop, then mirror horizontally where flipped (about the crop's centre column).
    to_input = affine_matrices(center, scale, (in_w, in_h), rotation=aug["rotation"])
    mirror = np.tile(np.array([[1.0, 0, 0], [0, 1.0, 0]]), (n, 1, 1))
    mirror[aug["flip"], 0] = [-1.0, 0.0, in_w - 1.0]
    to_input = np.einsum("nij,njk->nik", _h(mirror), _h(to_input))[:, :2]
    # Pre-crop pixels -> image pixels: x = x0 + (u + 0.5) * size / side - 0.5.
    side = precrops.shape[-1]
    ratio = regions[sample_ids, 2] / side
    precrop_to_image = np.zeros((n, 3, 3))
    precrop_to_image[:, 0, 0] = ratio
    precrop_to_image[:, 1, 1] = ratio
    precrop_to_image[:, 0, 2] = regions[sample_ids, 0] + 0.5 * ratio - 0.5
    precrop_to_image[:, 1, 2] = regions[sample_ids, 1] + 0.5 * ratio - 0.5
    precrop_to_image[:, 2, 2] = 1.0
    precrop_to_input = (_h(to_input) @ precrop_to_image)[:, :2]
    thetas = torch.as_tensor(
        sampling_grids(precrop_to_input, (side, side), (in_w, in_h)), dtype=torch.float32, device=device
    )
    pixels = precrops.to(torch.float32)
    grid = F.affine_grid(thetas, [n, 3, in_h, in_w], align_corners=False)
    crops = F.grid_sample(pixels, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if bgr:
        crops = crops.flip(1)
    crops = (crops / 255.0 - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)

    joints_input = np.einsum("nij,nkj->nki", to_input[:, :, :2], joints) + to_input[:, None, :, 2]
    flip_perm = schema.flip_permutation
    joints_input[aug["flip"]] = joints_input[aug["flip"]][:, flip_perm]
    visibility[aug["flip"]] = visibility[aug["flip"]][:, flip_perm]
    trained[aug["flip"]] = trained[aug["flip"]][:, flip_perm]
    # Input pixels -> heatmap pixels (the official targets use stride = input / heatmap).
    stride = np.array([in_w / hm_w, in_h / hm_h])
    joints_hm = torch.as_tensor(joints_input / stride, dtype=torch.float32, device=device)
    weights = torch.as_tensor(trained, dtype=torch.float32, device=device)
    targets, weights = gaussian_heatmaps(joints_hm, weights, (hm_h, hm_w), sigma=sigma, encoding=encoding)
    return Batch(crops, targets, weights, torch.as_tensor(visibility, device=device), joints_hm)


def _h(matrices: np.ndarray) -> np.ndarray:
    """(N, 2, 3) affine matrices as (N, 3, 3) homogeneous ones."""
    out = np.zeros((len(matrices), 3, 3))
    out[:, :2] = matrices
    out[:, 2, 2] = 1.0
    return out


def epoch_order(n: int, seed: int, epoch: int, rank: int = 0, world: int = 1) -> np.ndarray:
    """The sample order of an epoch (the same on every run), sharded across ``world`` ranks."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    per_rank = math.ceil(n / world)
    padded = np.concatenate([order, order[: per_rank * world - n]])
    return padded[rank::world]
