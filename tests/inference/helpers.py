"""Test doubles for the pipeline: tiny networks and a generated dataset with a known answer.

Pipeline tests use the zoo's tiny models (random weights) where any network will do, and
``MarkerNet`` where the answer must be known. The generated dataset draws every joint as a
small disc of its own (red, green) colour on a black background whose blue channel rises
from left to right. ``MarkerNet`` finds each
colour (a Gaussian-smoothed colour match sampled at the official heatmap stride) and reads
the blue gradient to tell a mirrored crop, swapping left/right channels then like a trained
pose network would. So the pipeline's predictions must land on the ground truth, with and
without the flip test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from occbench.datasets.format import SplitData, make_images_table, make_instances_table
from occbench.datasets.store import Dataset, write_dataset
from occbench.inference.model import TopDownModel, resolve_model
from occbench.skeletons import CROWDPOSE14, Visibility

LEVELS = (40, 110, 180, 250)
# 14 distinct (red, green) colours, one per crowdpose14 joint.
JOINT_COLOURS = np.array([(r, g) for r in LEVELS for g in LEVELS][:14], dtype=np.float64)
IMAGE_SIZE = (320, 240)  # width, height
MARKER_RADIUS = 3.5


class MarkerNet(nn.Module):
    """Finds the joint colours of the generated dataset; see the module docstring."""

    def __init__(self, flip_permutation: np.ndarray, tau: float = 12.0, blur_sigma: float = 3.0) -> None:
        super().__init__()
        self.register_buffer("colours", torch.tensor(JOINT_COLOURS, dtype=torch.float32))
        self.register_buffer("perm", torch.as_tensor(flip_permutation, dtype=torch.long))
        radius = int(3 * blur_sigma)
        offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
        kernel = torch.exp(-(offsets**2) / (2 * blur_sigma**2))
        self.register_buffer("kernel", kernel / kernel.sum())
        self.tau = tau

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        pixels = x * 255.0  # the model's normalisation is pixel / 255
        rg = pixels[:, :2]
        d2 = ((rg[:, None] - self.colours[None, :, :, None, None]) ** 2).sum(2)
        match = torch.exp(-d2 / (2 * self.tau**2))
        b, k, h, w = match.shape
        pad = len(self.kernel) // 2
        flat = match.reshape(b * k, 1, h, w)
        flat = F.conv2d(flat, self.kernel.view(1, 1, 1, -1), padding=(0, pad))
        flat = F.conv2d(flat, self.kernel.view(1, 1, -1, 1), padding=(pad, 0))
        # Heatmap pixel p sits on crop pixel 4p in the official convention.
        heatmaps = flat.view(b, k, h, w)[:, :, ::4, ::4]
        blue = pixels[:, 2, h // 4 : 3 * h // 4]
        mirrored = blue[..., w // 4 : w // 2].mean((1, 2)) > blue[..., w // 2 : 3 * w // 4].mean((1, 2))
        heatmaps = torch.where(mirrored[:, None, None, None], heatmaps[:, self.perm], heatmaps)
        return {"heatmaps": heatmaps, "stages": [heatmaps]}


def marker_model() -> TopDownModel:
    return TopDownModel(
        module=MarkerNet(CROWDPOSE14.flip_permutation),
        name="markernet",
        input_size=(256, 192),
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
    )


def tiny_model(
    num_joints: int, occnet: bool = False, seed: int = 0, channel_order: str | None = None, bias: float = 0.0
) -> TopDownModel:
    """A zoo tiny model (``occnet_tiny`` or ``simplebaseline_tiny``) with seeded random weights.

    ``bias`` is added to the output heads, lifting the joint scores of the untrained network
    (e.g. above pose NMS's 0.3 threshold).
    """
    torch.manual_seed(seed)
    model = resolve_model("occnet_tiny" if occnet else "simplebaseline_tiny", num_joints, channel_order=channel_order)
    net = model.module
    heads = (net.out_vis, net.out_occ) if occnet else (net.final_layer,)
    with torch.no_grad():
        for head in heads:
            head.bias += bias
    return model


def render_marker_image(joints: np.ndarray) -> np.ndarray:
    """(P, 14, 2) joint centres → (H, W, 3) uint8 image with one coloured disc per joint."""
    width, height = IMAGE_SIZE
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[..., 2] = np.round(255 * np.arange(width) / (width - 1)).astype(np.uint8)[None, :]
    ys, xs = np.mgrid[0:height, 0:width]
    for person in joints:
        for k, (cx, cy) in enumerate(person):
            disc = (xs - cx) ** 2 + (ys - cy) ** 2 <= MARKER_RADIUS**2
            image[disc, 0], image[disc, 1] = JOINT_COLOURS[k]
    return image


def marker_people(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two people side by side: boxes (2, 4) xywh and joints (2, 14, 2) on a jittered 2×7 grid."""
    boxes, joints = [], []
    for left in (30.0, 190.0):
        x, y = left + rng.uniform(0, 15), 40 + rng.uniform(0, 20)
        w, h = 80.0 + rng.uniform(0, 10), 150.0 + rng.uniform(0, 20)
        col = np.tile([0.25, 0.75], 7)
        row = np.repeat((np.arange(7) + 0.5) / 7, 2)
        jx = x + col * w + rng.uniform(-4, 4, 14)
        jy = y + row * h + rng.uniform(-3, 3, 14)
        boxes.append([x, y, w, h])
        joints.append(np.stack([jx, jy], axis=1))
    return np.array(boxes), np.array(joints)


def make_marker_split(
    folder: Path, num_images: int, seed: int = 0, video: str | None = None, first_id: int = 1
) -> tuple[SplitData, list[np.ndarray]]:
    """Write PNG frames into ``folder`` (or one lossless RGB video) and return the split."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    image_ids, files, frames = [], [], []
    boxes, joints, owners = [], [], []
    for i in range(num_images):
        b, j = marker_people(rng)
        image_id = first_id + i
        frames.append(render_marker_image(j))
        image_ids.append(image_id)
        files.append(f"{image_id:06d}.png")
        if video is None:
            Image.fromarray(frames[-1]).save(folder / files[-1])
        boxes.append(b)
        joints.append(j)
        owners += [image_id] * len(b)
    if video is not None:
        write_rgb_video(folder / video, frames)
    width, height = IMAGE_SIZE
    n = len(image_ids)
    images = make_images_table(
        {
            "image_id": image_ids,
            "file_name": files,
            "width": [width] * n,
            "height": [height] * n,
            **({"video": [video] * n, "video_frame": list(range(n)), "sequence": ["seq"] * n} if video else {}),
        }
    )
    box = np.concatenate(boxes)
    kp = np.concatenate(joints)
    m = len(box)
    instances = make_instances_table(
        {
            "instance_id": np.arange(m) + 100 * first_id,
            "image_id": owners,
            "bbox_x": box[:, 0],
            "bbox_y": box[:, 1],
            "bbox_w": box[:, 2],
            "bbox_h": box[:, 3],
            "area": box[:, 2] * box[:, 3],
            "num_keypoints": [14] * m,
            "occlusion_ratio": np.zeros(m),
            "self_occlusion_ratio": np.zeros(m),
        }
    )
    visibility = np.full((m, 14), Visibility.VISIBLE, dtype=np.int8)
    return SplitData(images, instances, kp, visibility), frames


def write_rgb_video(path: Path, frames: list[np.ndarray]) -> None:
    """A lossless (libx264rgb, crf 0) MP4, so decoded frames equal the drawn ones."""
    import av

    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264rgb", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "rgb24"
        stream.options = {"crf": "0", "preset": "ultrafast"}
        for array in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def make_marker_dataset(root: Path, num_images: int = 4, seed: int = 0, video: bool = False) -> Dataset:
    media = root / "media"
    data, _ = make_marker_split(media, num_images, seed, video="clip.mp4" if video else None)
    return write_dataset(
        root / "dataset",
        CROWDPOSE14.name,
        {"test": data},
        name="markers",
        source="generated",
        area_convention="bbox",
        image_root=None if video else media,
        video_root=media if video else None,
    )
