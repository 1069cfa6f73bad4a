"""Camera, people on a ground plane moving over frames with stable ids, and static occluders.

World coordinates: x right, y up, z away from the camera; the ground is y = 0. The camera
sits at height ``camera_height`` above the origin, pitched down by ``pitch``; camera
coordinates follow OpenCV (x right, y down, z forward) like JTA's 3D joints. Intrinsics
default to JTA's K = [[1158, 0, 960], [0, 1158, 540], [0, 0, 1]] at 1920x1080, scaled for
other resolutions.

Tracks: a sequence starts with ``persons`` people in view; walkers move along their heading
and leave; whenever fewer than ``persons`` are in view, a new walker enters from a side.
Standing, sitting and gesturing people stay where they are. Ids are stable and never reused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occbench.datasets.synth.body import ACTIONS, Bodies, joint_angles, pose_joints, random_bodies

JTA_K = np.array([[1158.0, 0.0, 960.0], [0.0, 1158.0, 540.0], [0.0, 0.0, 1.0]])
JTA_SIZE = (1920, 1080)


@dataclass(frozen=True)
class Camera:
    K: np.ndarray  # (3, 3)
    width: int
    height: int
    height_m: float  # camera height above the ground
    pitch: float  # radians, positive looks down

    @classmethod
    def jta(cls, width: int, height: int, height_m: float = 3.0, pitch: float = 0.17) -> Camera:
        """JTA's intrinsics scaled to ``width`` x ``height``."""
        sx, sy = width / JTA_SIZE[0], height / JTA_SIZE[1]
        K = JTA_K * np.array([[sx, 1, sx], [1, sy, sy], [1, 1, 1]])
        return cls(K, width, height, height_m, pitch)

    @property
    def rotation(self) -> np.ndarray:
        """Rows: the camera's x, y, z axes in world coordinates."""
        c, s = np.cos(self.pitch), np.sin(self.pitch)
        return np.array([[1.0, 0.0, 0.0], [0.0, -c, -s], [0.0, -s, c]])

    @property
    def position(self) -> np.ndarray:
        return np.array([0.0, self.height_m, 0.0])

    def world_to_camera(self, points: np.ndarray) -> np.ndarray:
        return (points - self.position) @ self.rotation.T

    def project(self, points_cam: np.ndarray) -> np.ndarray:
        z = np.maximum(points_cam[..., 2:3], 1e-6)
        uv = points_cam[..., :2] / z
        return uv * np.array([self.K[0, 0], self.K[1, 1]]) + np.array([self.K[0, 2], self.K[1, 2]])

    @property
    def fov_degrees(self) -> float:
        return float(np.degrees(2 * np.arctan(self.width / (2 * self.K[0, 0]))))

    def half_width_at(self, depth: np.ndarray) -> np.ndarray:
        """Half the visible ground width (m) at camera depth ``depth``."""
        return depth * (self.width / 2) / self.K[0, 0]


@dataclass
class Tracks:
    """All people of a sequence: shape/appearance, and per-frame positions (NaN when absent)."""

    bodies: Bodies
    ids: np.ndarray  # (T,) stable ids
    position: np.ndarray  # (F, T, 2) ground x, z (NaN when the track is not in the scene)
    heading: np.ndarray  # (T,) yaw: forward = (sin, 0, cos)
    speed: np.ndarray  # (T,) m/s (0 for static people)
    start_frame: np.ndarray  # (T,)


@dataclass(frozen=True)
class Occluders:
    """Static occluders in world coordinates: poles (vertical capsules) and upright panels."""

    pole_base: np.ndarray  # (Np, 3)
    pole_height: np.ndarray  # (Np,)
    pole_radius: np.ndarray  # (Np,)
    panel_center: np.ndarray  # (Nb, 3) centre of the panel's front face
    panel_size: np.ndarray  # (Nb, 2) width, height in metres
    colors: np.ndarray  # (Np + Nb, 3) uint8


def simulate_tracks(rng: np.random.Generator, camera: Camera, persons: int, frames: int, fps: float = 30.0,
                    depth_range: tuple[float, float] = (4.0, 18.0)) -> Tracks:  # fmt: skip
    """Place and move people so that about ``persons`` are in view in every frame."""
    capacity = persons * 4 + 8
    bodies = random_bodies(rng, capacity)
    walk = ACTIONS.index("walk")
    zmin, zmax = depth_range
    position = np.full((frames, capacity, 2), np.nan)
    heading = rng.uniform(-np.pi, np.pi, capacity)
    speed = np.where(bodies.action == walk, rng.uniform(0.8, 1.6, capacity), 0.0)
    start = np.zeros(capacity, dtype=np.int64)

    def place(k: int, entering: bool) -> np.ndarray:
        z = zmin + (zmax - zmin) * rng.uniform() ** 0.8
        half = camera.half_width_at(np.asarray(z))
        if entering:
            side = rng.choice([-1.0, 1.0])
            heading[k] = -side * np.pi / 2 + rng.uniform(-0.4, 0.4)  # walk into the view
            return np.array([side * (half + 0.6), z])
        return np.array([rng.uniform(-0.9, 0.9) * half, z])

    used = 0
    current = np.full((capacity, 2), np.nan)
    for k in range(min(persons, capacity)):
        current[k] = place(k, entering=False)
    used = min(persons, capacity)
    for f in range(frames):
        position[f] = current
        step = speed[:, None] * np.stack([np.sin(heading), np.cos(heading)], 1) / fps
        current = current + np.nan_to_num(step)
        active = np.isfinite(current[:, 0])
        z = current[:, 1]
        half = camera.half_width_at(np.nan_to_num(z, nan=1.0))
        gone = active & ((np.abs(current[:, 0]) > half + 1.5) | (z < zmin - 1.0) | (z > zmax + 4.0))
        current[gone] = np.nan
        in_view = np.isfinite(current[:, 0]) & (np.abs(np.nan_to_num(current[:, 0])) <= half)
        missing = persons - int(in_view.sum())
        while missing > 0 and used < capacity:
            if bodies.action[used] != walk:
                bodies.action[used] = walk
                speed[used] = rng.uniform(0.8, 1.6)
            current[used] = place(used, entering=True)
            start[used] = f + 1
            used += 1
            missing -= 1
    keep = np.isfinite(position[..., 0]).any(axis=0)
    idx = np.flatnonzero(keep)
    sub = Bodies(**{name: getattr(bodies, name)[idx] for name in bodies.__dataclass_fields__})
    return Tracks(sub, idx + 1, position[:, idx], heading[idx], speed[idx], start[idx])


def random_occluders(rng: np.random.Generator, camera: Camera, count: int) -> Occluders:
    n_poles = int(rng.integers(0, count + 1)) if count else 0
    n_panels = count - n_poles
    depth = rng.uniform(3.0, 10.0, count)
    half = camera.half_width_at(depth)
    x = rng.uniform(-0.8, 0.8, count) * half
    pole_base = np.stack([x[:n_poles], np.zeros(n_poles), depth[:n_poles]], 1)
    panel_size = np.stack([rng.uniform(0.5, 1.6, n_panels), rng.uniform(0.6, 1.5, n_panels)], 1)
    panel_center = np.stack([x[n_poles:], panel_size[:, 1] / 2, depth[n_poles:]], 1)
    return Occluders(
        pole_base=pole_base,
        pole_height=rng.uniform(2.5, 4.0, n_poles),
        pole_radius=rng.uniform(0.06, 0.16, n_poles),
        panel_center=panel_center,
        panel_size=panel_size,
        colors=rng.uniform(40, 220, (count, 3)).astype(np.uint8),
    )


def world_joints(tracks: Tracks, frame: int, fps: float = 30.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Joints (P, 22, 3) in world coordinates for the tracks present in ``frame``.

    Also returns the track indices present and each person's forward vector (P, 3).
    """
    present = np.flatnonzero(np.isfinite(tracks.position[frame, :, 0]))
    if len(present) == 0:
        return np.zeros((0, 22, 3)), present, np.zeros((0, 3))
    bodies = Bodies(**{name: getattr(tracks.bodies, name)[present] for name in tracks.bodies.__dataclass_fields__})
    t = (frame - tracks.start_frame[present]) / fps
    local = pose_joints(bodies, joint_angles(bodies, t, fps, tracks.speed[present]))
    yaw = tracks.heading[present]
    right = np.stack([np.cos(yaw), np.zeros_like(yaw), -np.sin(yaw)], 1)
    forward = np.stack([np.sin(yaw), np.zeros_like(yaw), np.cos(yaw)], 1)
    up = np.array([0.0, 1.0, 0.0])
    xz = tracks.position[frame, present]
    origin = np.stack([xz[:, 0], np.zeros(len(present)), xz[:, 1]], 1)
    world = (origin[:, None, :] + local[..., 0:1] * right[:, None, :] + local[..., 1:2] * up
             + local[..., 2:3] * forward[:, None, :])  # fmt: skip
    return world, present, forward
