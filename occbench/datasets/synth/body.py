"""People in 3D: the 22 JTA joints, body proportions and a pose generator.

A body is built in its own frame (x to the person's right, y up, z forward, the origin on
the ground between the feet), from joint angles:

- legs: hip flexion (forward swing) and knee flexion;
- arms: shoulder flexion (forward), abduction (sideways) and elbow flexion;
- a root height (lowered when sitting) and a slight torso lean.

Actions set those angles: ``walk`` (a gait phase drives the legs and the counter-swinging
arms), ``stand`` (small random offsets), ``sit`` (hips and knees at about 90°) and
``gesture`` (one or both arms raised, optionally waving). Proportions follow standard
anthropometric ratios of the body height, with per-person variation in height and build.

Everything is vectorised over persons: arrays have a leading person axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occbench.skeletons import JTA22

J = {name: i for i, name in enumerate(JTA22.joint_names)}
NUM_JOINTS = JTA22.num_joints
ACTIONS = ("walk", "stand", "sit", "gesture")


@dataclass
class Bodies:
    """Per-person shape, appearance and action (all arrays have length P)."""

    height: np.ndarray  # metres
    build: np.ndarray  # width factor around 1
    action: np.ndarray  # index into ACTIONS
    phase0: np.ndarray  # initial gait / gesture phase (radians)
    gesture_arms: np.ndarray  # 0 right, 1 left, 2 both
    wave: np.ndarray  # bool: the raised arm waves
    stand_offsets: np.ndarray  # (P, 6) small angle offsets (radians) for standing variety
    colors: np.ndarray  # (P, 6, 3) uint8: shirt, pants, skin, hair, shoes, accent
    striped: np.ndarray  # bool: striped shirt


def random_bodies(rng: np.random.Generator, n: int, action_probs: tuple[float, ...] = (0.55, 0.25, 0.1, 0.1)
                  ) -> Bodies:  # fmt: skip
    skin_tones = np.array([[255, 219, 172], [241, 194, 125], [224, 172, 105], [198, 134, 66], [141, 85, 36],
                           [92, 56, 36]], dtype=np.float64)  # fmt: skip
    hair_tones = np.array([[20, 15, 10], [70, 45, 25], [140, 100, 50], [200, 170, 110], [120, 120, 120]], np.float64)
    shirt = rng.uniform(20, 235, (n, 3))
    pants = rng.choice(np.array([[30, 35, 60], [20, 20, 20], [80, 80, 90], [110, 90, 60], [60, 70, 40]]), n) + \
        rng.uniform(-15, 15, (n, 3))  # fmt: skip
    skin = skin_tones[rng.integers(0, len(skin_tones), n)] + rng.uniform(-8, 8, (n, 3))
    hair = hair_tones[rng.integers(0, len(hair_tones), n)]
    shoes = rng.uniform(10, 90, (n, 3))
    accent = 255 - shirt * 0.6
    colors = np.clip(np.stack([shirt, pants, skin, hair, shoes, accent], axis=1), 0, 255).astype(np.uint8)
    return Bodies(
        height=np.clip(rng.normal(1.72, 0.09, n), 1.50, 1.98),
        build=np.clip(rng.normal(1.0, 0.1, n), 0.8, 1.3),
        action=rng.choice(len(ACTIONS), n, p=np.asarray(action_probs) / np.sum(action_probs)),
        phase0=rng.uniform(0, 2 * np.pi, n),
        gesture_arms=rng.integers(0, 3, n),
        wave=rng.uniform(size=n) < 0.5,
        stand_offsets=rng.normal(0, 0.08, (n, 6)),
        colors=colors,
        striped=rng.uniform(size=n) < 0.3,
    )


def _rot_x(direction: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate (P, 3) vectors about the x axis (positive: the -y axis swings toward +z)."""
    c, s = np.cos(angle), np.sin(angle)
    x, y, z = direction[:, 0], direction[:, 1], direction[:, 2]
    return np.stack([x, c * y - s * z, s * y + c * z], axis=1)


def _rot_z(direction: np.ndarray, angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    x, y, z = direction[:, 0], direction[:, 1], direction[:, 2]
    return np.stack([c * x - s * y, s * x + c * y, z], axis=1)


def joint_angles(bodies: Bodies, t: float | np.ndarray, fps: float = 30.0, speed: np.ndarray | None = None
                 ) -> dict[str, np.ndarray]:  # fmt: skip
    """Joint angles (radians) of every person at time ``t`` seconds (per person or shared)."""
    n = len(bodies.height)
    t = np.broadcast_to(np.asarray(t, dtype=np.float64), (n,))
    speed = np.full(n, 1.3) if speed is None else speed
    stride = 0.78 * bodies.height  # a full gait cycle covers two steps
    phase = bodies.phase0 + 2 * np.pi * t * speed / stride
    zeros = np.zeros(n)
    a = {k: zeros.copy() for k in ("hip_r", "hip_l", "knee_r", "knee_l", "sh_r", "sh_l", "ab_r", "ab_l", "el_r",
                                   "el_l", "root_drop", "lean")}  # fmt: skip
    a["ab_r"] += 0.12
    a["ab_l"] += 0.12
    a["el_r"] += 0.15
    a["el_l"] += 0.15

    walk = bodies.action == ACTIONS.index("walk")
    swing = 0.42 * np.sin(phase)
    a["hip_r"] = np.where(walk, swing, a["hip_r"])
    a["hip_l"] = np.where(walk, -swing, a["hip_l"])
    a["knee_r"] = np.where(walk, 0.15 + 0.55 * np.maximum(0, np.sin(phase - 1.2)), a["knee_r"])
    a["knee_l"] = np.where(walk, 0.15 + 0.55 * np.maximum(0, np.sin(phase - 1.2 + np.pi)), a["knee_l"])
    a["sh_r"] = np.where(walk, -0.5 * swing, a["sh_r"])
    a["sh_l"] = np.where(walk, 0.5 * swing, a["sh_l"])
    a["el_r"] = np.where(walk, 0.3 + 0.15 * np.sin(phase), a["el_r"])
    a["el_l"] = np.where(walk, 0.3 - 0.15 * np.sin(phase), a["el_l"])
    a["root_drop"] = np.where(walk, 0.012 * bodies.height * (1 - np.cos(2 * phase)), a["root_drop"])
    a["lean"] = np.where(walk, 0.06, a["lean"])

    stand = bodies.action == ACTIONS.index("stand")
    off = bodies.stand_offsets
    for i, key in enumerate(("hip_r", "hip_l", "sh_r", "sh_l", "el_r", "el_l")):
        a[key] = np.where(stand, a[key] + off[:, i] + (0.25 if key.startswith("el") else 0.0), a[key])

    sit = bodies.action == ACTIONS.index("sit")
    a["hip_r"] = np.where(sit, 1.5 + off[:, 0], a["hip_r"])
    a["hip_l"] = np.where(sit, 1.5 + off[:, 1], a["hip_l"])
    a["knee_r"] = np.where(sit, 1.5 + off[:, 2], a["knee_r"])
    a["knee_l"] = np.where(sit, 1.5 + off[:, 3], a["knee_l"])
    a["el_r"] = np.where(sit, 0.9, a["el_r"])
    a["el_l"] = np.where(sit, 0.9, a["el_l"])
    a["sh_r"] = np.where(sit, 0.3, a["sh_r"])
    a["sh_l"] = np.where(sit, 0.3, a["sh_l"])

    gesture = bodies.action == ACTIONS.index("gesture")
    raise_r = gesture & (bodies.gesture_arms != 1)
    raise_l = gesture & (bodies.gesture_arms != 0)
    wave = np.where(bodies.wave, 0.35 * np.sin(2 * np.pi * 1.5 * t + bodies.phase0), 0.0)
    a["sh_r"] = np.where(raise_r, 2.6 + wave, a["sh_r"])
    a["ab_r"] = np.where(raise_r, 0.5, a["ab_r"])
    a["el_r"] = np.where(raise_r, 0.5 + wave, a["el_r"])
    a["sh_l"] = np.where(raise_l, 2.6 - wave, a["sh_l"])
    a["ab_l"] = np.where(raise_l, 0.5, a["ab_l"])
    a["el_l"] = np.where(raise_l, 0.5 - wave, a["el_l"])
    return a


def pose_joints(bodies: Bodies, angles: dict[str, np.ndarray]) -> np.ndarray:
    """(P, 22, 3) joint positions in each person's body frame (metres)."""
    h = bodies.height
    b = bodies.build
    n = len(h)
    out = np.zeros((n, NUM_JOINTS, 3))
    sitting = bodies.action == ACTIONS.index("sit")
    # Sitting lowers the pelvis to seat height; the upper body keeps its proportions.
    pelvis_y = np.where(sitting, 0.27 * h, 0.53 * h) - angles["root_drop"]
    up = np.stack([np.zeros(n), np.ones(n), np.zeros(n)], 1)
    lean = _rot_x(up, angles["lean"])  # torso leans forward
    spine_len = 0.30 * h
    for k, frac in enumerate((0.97, 0.78, 0.56, 0.32, 0.0)):  # spine0 (top) .. spine4 (pelvis)
        out[:, J[f"spine{k}"]] = np.stack([np.zeros(n), pelvis_y, np.zeros(n)], 1) + lean * (frac * spine_len)[:, None]
    neck = out[:, J["spine4"]] + lean * (0.315 * h)[:, None]
    out[:, J["neck"]] = neck
    out[:, J["head_center"]] = neck + lean * (0.095 * h)[:, None]
    out[:, J["head_top"]] = neck + lean * (0.16 * h)[:, None]
    for side, sign in (("right", 1.0), ("left", -1.0)):
        s = side[0]
        clav = neck + np.stack([sign * 0.045 * h * b, -0.025 * h, np.zeros(n)], 1)
        shoulder = neck + np.stack([sign * 0.125 * h * b, -0.03 * h, np.zeros(n)], 1)
        out[:, J[f"{side}_clavicle"]] = clav
        out[:, J[f"{side}_shoulder"]] = shoulder
        down = np.tile([0.0, -1.0, 0.0], (n, 1))
        upper = _rot_z(_rot_x(down, angles[f"sh_{s}"]), sign * angles[f"ab_{s}"])
        fore = _rot_z(_rot_x(down, angles[f"sh_{s}"] + angles[f"el_{s}"]), sign * angles[f"ab_{s}"])
        elbow = shoulder + upper * (0.186 * h)[:, None]
        out[:, J[f"{side}_elbow"]] = elbow
        out[:, J[f"{side}_wrist"]] = elbow + fore * (0.146 * h)[:, None]
        hip = np.stack([sign * 0.085 * h * b, pelvis_y, np.zeros(n)], 1)
        thigh = _rot_x(down, angles[f"hip_{s}"])
        shin = _rot_x(down, angles[f"hip_{s}"] - angles[f"knee_{s}"])
        knee = hip + thigh * (0.245 * h)[:, None]
        out[:, J[f"{side}_hip"]] = hip
        out[:, J[f"{side}_knee"]] = knee
        out[:, J[f"{side}_ankle"]] = knee + shin * (0.246 * h)[:, None]
    return out
