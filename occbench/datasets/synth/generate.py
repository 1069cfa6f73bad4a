"""Synthetic crowd sequences: people, camera, rendering and exact occlusion flags per frame.

Flags come from the buffers, with JTA's semantics. A joint lies inside its own body parts,
``r`` deep under their surface (``r`` = the largest radius of the parts meeting at the joint).
At the joint's projected pixel, with ``d`` the nearest surface's depth and ``z`` the joint's:

- ``occluded``: the nearest surface belongs to another person or an occluder (it beat the
  joint's own front surface, so it is in front of the joint);
- ``self_occluded``: the nearest surface is the person's own body and ``d < z - r - 2 cm``
  (an arm in front of the hip, the near hip in front of the far one);
- ``visible`` otherwise: the joint's own surface, or nothing (a joint on the silhouette's edge);
- off-screen joints (outside 0 <= x < W, 0 <= y < H) get no flag; converters call them truncated.

Everything is deterministic for a seed: sequence k uses ``numpy.random.default_rng([seed, k])``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from occbench.datasets.synth.render import (
    BACKGROUND_ID,
    KIND_CAPSULE,
    KIND_PANEL,
    OCCLUDER_ID,
    Primitives,
    Rendered,
    background_image,
    concat,
    empty_primitives,
    own_part_radius,
    person_primitives,
    render,
)
from occbench.datasets.synth.scene import Camera, Occluders, Tracks, random_occluders, simulate_tracks, world_joints


@dataclass(frozen=True)
class SynthConfig:
    """The generator's knobs. ``splits`` maps split names to numbers of sequences."""

    splits: dict[str, int] = field(default_factory=lambda: {"test": 1})
    frames: int = 30
    persons: int = 12
    occluders: int = 2
    size: tuple[int, int] = (960, 540)  # width, height
    seed: int = 0
    fps: float = 30.0
    stride: int = 1  # keep every n-th frame (image layouts)
    depth_range: tuple[float, float] = (4.0, 18.0)
    camera_height: tuple[float, float] = (2.2, 4.0)
    camera_pitch_deg: tuple[float, float] = (6.0, 14.0)

    @property
    def sequences(self) -> list[tuple[str, int]]:
        """(split, global sequence index) for every sequence, in a fixed order."""
        out, k = [], 0
        for split, count in self.splits.items():
            for _ in range(count):
                out.append((split, k))
                k += 1
        return out


@dataclass
class SynthFrame:
    frame: int  # 0-based frame index in the sequence
    image: np.ndarray  # (H, W, 3) uint8
    track_ids: np.ndarray  # (P,)
    joints_2d: np.ndarray  # (P, 22, 2) pixels
    joints_3d: np.ndarray  # (P, 22, 3) camera coordinates, metres
    occluded: np.ndarray  # (P, 22) bool
    self_occluded: np.ndarray  # (P, 22) bool
    in_frame: np.ndarray  # (P, 22) bool
    buffers: Rendered


@dataclass
class SynthSequence:
    split: str
    index: int
    camera: Camera
    tracks: Tracks
    occluders: Occluders
    background: np.ndarray


def make_sequence(config: SynthConfig, split: str, index: int) -> SynthSequence:
    rng = np.random.default_rng([config.seed, index])
    width, height = config.size
    camera = Camera.jta(width, height, float(rng.uniform(*config.camera_height)),
                        float(np.radians(rng.uniform(*config.camera_pitch_deg))))  # fmt: skip
    background = background_image(rng, camera)
    occluders = random_occluders(rng, camera, config.occluders)
    tracks = simulate_tracks(rng, camera, config.persons, config.frames, config.fps, config.depth_range)
    return SynthSequence(split, index, camera, tracks, occluders, background)


def occluder_primitives(occ: Occluders, camera: Camera) -> Primitives:
    n_poles, n_panels = len(occ.pole_base), len(occ.panel_center)
    n = n_poles + n_panels
    if n == 0:
        return empty_primitives()
    tops = occ.pole_base + np.stack([np.zeros(n_poles), occ.pole_height, np.zeros(n_poles)], 1)
    a = np.concatenate([camera.world_to_camera(occ.pole_base), camera.world_to_camera(occ.panel_center)])
    b = np.concatenate([camera.world_to_camera(tops), camera.world_to_camera(occ.panel_center)])
    radius = np.concatenate([occ.pole_radius, occ.panel_size[:, 0] / 2])
    radius_y = np.concatenate([occ.pole_radius, occ.panel_size[:, 1] / 2])
    zeros = np.zeros((n, 3))
    return Primitives(
        a=a, b=b, radius=radius, radius_y=radius_y,
        kind=np.concatenate([np.full(n_poles, KIND_CAPSULE), np.full(n_panels, KIND_PANEL)]),
        person=np.full(n, OCCLUDER_ID), part=np.full(n, -1), color=occ.colors.astype(np.float64),
        forward=zeros, right=zeros, accent=zeros, striped=np.zeros(n, dtype=bool),
    )  # fmt: skip


SELF_OCCLUSION_TOLERANCE = 0.02  # metres beyond the joint's own radius


def occlusion_flags(rendered: Rendered, joints_2d: np.ndarray, joints_3d: np.ndarray, camera: Camera,
                    own_radius: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """(occluded, self_occluded, in_frame) per joint, read from the buffers (module docstring)."""
    p = joints_2d.shape[0]
    px = np.round(joints_2d[..., 0]).astype(np.int64)
    py = np.round(joints_2d[..., 1]).astype(np.int64)
    in_frame = (px >= 0) & (px < camera.width) & (py >= 0) & (py < camera.height) & (joints_3d[..., 2] > 0)
    cx, cy = np.clip(px, 0, camera.width - 1), np.clip(py, 0, camera.height - 1)
    owner = rendered.person[cy, cx]
    depth = rendered.depth[cy, cx]
    me = np.arange(p)[:, None]
    z = joints_3d[..., 2]
    self_occluded = in_frame & (owner == me) & (depth < z - own_radius - SELF_OCCLUSION_TOLERANCE)
    occluded = in_frame & (owner != me) & (owner != BACKGROUND_ID) & (depth < z)
    return occluded, self_occluded, in_frame


def iter_frames(seq: SynthSequence, config: SynthConfig) -> Iterator[SynthFrame]:
    """Render every ``config.stride``-th frame of a sequence."""
    camera = seq.camera
    rot = camera.rotation
    occluder_prims = occluder_primitives(seq.occluders, camera)
    up_cam = np.array([0.0, 1.0, 0.0]) @ rot.T
    for f in range(0, config.frames, config.stride):
        world, present, forward = world_joints(seq.tracks, f, config.fps)
        joints_3d = camera.world_to_camera(world)
        joints_2d = camera.project(joints_3d)
        bodies = seq.tracks.bodies
        forward_cam = forward @ rot.T
        right_world = np.stack([forward[:, 2], np.zeros(len(present)), -forward[:, 0]], 1)
        prims = person_primitives(
            joints_3d, bodies.height[present], bodies.build[present], bodies.colors[present], forward_cam,
            right_world @ rot.T, np.broadcast_to(up_cam, (len(present), 3)), bodies.striped[present],
        )  # fmt: skip
        rendered = render(concat([prims, occluder_prims]), camera, seq.background)
        own_radius = own_part_radius(bodies.height[present], bodies.build[present])
        occluded, self_occluded, in_frame = occlusion_flags(rendered, joints_2d, joints_3d, camera, own_radius)
        yield SynthFrame(f, rendered.image, seq.tracks.ids[present], joints_2d, joints_3d, occluded, self_occluded,
                         in_frame, rendered)  # fmt: skip
