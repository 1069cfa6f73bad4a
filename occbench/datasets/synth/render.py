"""A vectorised z-buffer rasteriser for people made of capsules and an ellipsoid head.

Every body part is a primitive in camera coordinates: a capsule (segment A-B with a
radius), the head ellipsoid, or an upright panel (occluder). A primitive is drawn as its
screen-space footprint: the projected capsule (radius scaled by focal / depth), the
projected ellipse, the projected rectangle. For each pixel of a footprint the depth is that
of the surface facing the camera (the axis depth minus the bulge ``r * sqrt(1 - q)``), so
crossing limbs and people occlude each other correctly.

All primitives of a frame are processed at once: each footprint's bounding box is expanded
into pixel samples (no Python loop over primitives or pixels), samples outside the
footprint are dropped, and the nearest sample per pixel wins (one lexsort). Outputs: the
RGB image, a depth buffer, a person-id buffer (-1 background, -2 occluder) and a part
buffer (the part type of each person pixel).

Shading gives orientation cues that make left and right learnable: a face (skin and eyes)
on the forward half of the head and hair on the back, a coloured band down the front of the
shirt, and feet pointing forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occbench.datasets.synth.body import J
from occbench.datasets.synth.scene import Camera

KIND_CAPSULE, KIND_HEAD, KIND_PANEL = 0, 1, 2
BACKGROUND_ID, OCCLUDER_ID = -1, -2
MAX_SAMPLES = 2_500_000

# Body parts: name, joint a, joint b (or an extension), radius as a fraction of body height
# (x build for the torso), colour slot (0 shirt, 1 pants, 2 skin, 3 hair, 4 shoes).
PARTS: tuple[tuple[str, str, str, float, int], ...] = (
    ("torso_upper", "neck", "spine2", 0.092, 0),
    ("torso_lower", "spine2", "spine4", 0.085, 0),
    ("pelvis", "right_hip", "left_hip", 0.07, 1),
    ("shoulder_r", "spine0", "right_shoulder", 0.048, 0),
    ("shoulder_l", "spine0", "left_shoulder", 0.048, 0),
    ("upper_arm_r", "right_shoulder", "right_elbow", 0.034, 0),
    ("upper_arm_l", "left_shoulder", "left_elbow", 0.034, 0),
    ("forearm_r", "right_elbow", "right_wrist", 0.027, 2),
    ("forearm_l", "left_elbow", "left_wrist", 0.027, 2),
    ("hand_r", "right_wrist", "hand_r", 0.024, 2),
    ("hand_l", "left_wrist", "hand_l", 0.024, 2),
    ("thigh_r", "right_hip", "right_knee", 0.05, 1),
    ("thigh_l", "left_hip", "left_knee", 0.05, 1),
    ("shin_r", "right_knee", "right_ankle", 0.036, 1),
    ("shin_l", "left_knee", "left_ankle", 0.036, 1),
    ("foot_r", "right_ankle", "foot_r", 0.026, 4),
    ("foot_l", "left_ankle", "foot_l", 0.026, 4),
    ("neck", "neck", "head_center", 0.03, 2),
    ("head", "head_center", "head_center", 0.0, 2),
)
PART_INDEX = {p[0]: i for i, p in enumerate(PARTS)}
HEAD_RADII = (0.062, 0.074)  # horizontal, vertical, as fractions of body height

# For each JTA joint, the parts it lies inside: their radii say how deep under its own
# surface the joint is (see ``own_part_radius``).
JOINT_PARTS: dict[str, tuple[str, ...]] = {
    "head_top": ("head",), "head_center": ("head", "neck"), "neck": ("neck", "torso_upper", "shoulder_r",
    "shoulder_l", "head"), "right_clavicle": ("torso_upper", "shoulder_r", "neck"),
    "left_clavicle": ("torso_upper", "shoulder_l", "neck"),
    "right_shoulder": ("shoulder_r", "upper_arm_r", "torso_upper"),
    "left_shoulder": ("shoulder_l", "upper_arm_l", "torso_upper"),
    "right_elbow": ("upper_arm_r", "forearm_r"), "left_elbow": ("upper_arm_l", "forearm_l"),
    "right_wrist": ("forearm_r", "hand_r"), "left_wrist": ("forearm_l", "hand_l"),
    "spine0": ("torso_upper", "shoulder_r", "shoulder_l"), "spine1": ("torso_upper",),
    "spine2": ("torso_upper", "torso_lower"), "spine3": ("torso_lower",), "spine4": ("torso_lower", "pelvis"),
    "right_hip": ("pelvis", "thigh_r", "torso_lower"), "left_hip": ("pelvis", "thigh_l", "torso_lower"),
    "right_knee": ("thigh_r", "shin_r"), "left_knee": ("thigh_l", "shin_l"),
    "right_ankle": ("shin_r", "foot_r"), "left_ankle": ("shin_l", "foot_l"),
}  # fmt: skip
TORSO_PARTS = frozenset({"torso_upper", "torso_lower", "pelvis"})


def own_part_radius(heights: np.ndarray, builds: np.ndarray) -> np.ndarray:
    """(P, 22) the largest radius (m) among each joint's own parts: how deep a joint lies under
    its own surface. A surface nearer than this (plus a tolerance) hides the joint."""
    out = np.zeros((len(heights), len(J)))
    for joint, parts in JOINT_PARTS.items():
        factors = []
        for name in parts:
            factor = HEAD_RADII[0] if name == "head" else PARTS[PART_INDEX[name]][3]
            factors.append(factor * (np.maximum(builds, 1.0) if name in TORSO_PARTS else np.ones_like(builds)))
        out[:, J[joint]] = heights * np.max(factors, axis=0)
    return out


@dataclass
class Primitives:
    """Primitives of a frame in camera coordinates (M of them)."""

    a: np.ndarray  # (M, 3)
    b: np.ndarray  # (M, 3)
    radius: np.ndarray  # (M,) metres (capsule); horizontal radius (head); half width (panel)
    radius_y: np.ndarray  # (M,) vertical radius (head) / half height (panel); = radius otherwise
    kind: np.ndarray  # (M,)
    person: np.ndarray  # (M,) index of the person in the frame, or OCCLUDER_ID
    part: np.ndarray  # (M,) part type (-1 for occluders)
    color: np.ndarray  # (M, 3) float base colour
    forward: np.ndarray  # (M, 3) the person's forward direction (camera coords)
    right: np.ndarray  # (M, 3) the person's right direction (camera coords)
    accent: np.ndarray  # (M, 3) float: hair colour for heads, front band for shirts
    striped: np.ndarray  # (M,) bool


@dataclass
class Rendered:
    image: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32, inf where nothing is drawn over the background
    person: np.ndarray  # (H, W) int32
    part: np.ndarray  # (H, W) int16


def person_primitives(joints_cam: np.ndarray, heights: np.ndarray, builds: np.ndarray, colors: np.ndarray,
                      forward_cam: np.ndarray, right_cam: np.ndarray, up_cam: np.ndarray,
                      striped: np.ndarray) -> Primitives:  # fmt: skip
    """Capsules and head ellipsoids of P people whose joints (P, 22, 3) are in camera coords."""
    p = len(joints_cam)
    if p == 0:
        return empty_primitives()
    h = heights[:, None]
    extra = {
        "hand_r": joints_cam[:, J["right_wrist"]] + _unit(joints_cam[:, J["right_wrist"]] - joints_cam[:, J[
            "right_elbow"]]) * (0.05 * heights)[:, None],
        "hand_l": joints_cam[:, J["left_wrist"]] + _unit(joints_cam[:, J["left_wrist"]] - joints_cam[:, J[
            "left_elbow"]]) * (0.05 * heights)[:, None],
        "foot_r": joints_cam[:, J["right_ankle"]] + forward_cam * (0.09 * heights)[:, None]
        - up_cam * (0.02 * heights)[:, None],
        "foot_l": joints_cam[:, J["left_ankle"]] + forward_cam * (0.09 * heights)[:, None]
        - up_cam * (0.02 * heights)[:, None],
    }  # fmt: skip

    def point(name: str) -> np.ndarray:
        return extra[name] if name in extra else joints_cam[:, J[name]]

    a = np.stack([point(part[1]) for part in PARTS], 1)  # (P, NP, 3)
    b = np.stack([point(part[2]) for part in PARTS], 1)
    width = np.array([p_[3] for p_ in PARTS])[None, :] * h
    torso = np.array([p_[0].startswith(("torso", "pelvis")) for p_ in PARTS])
    width = np.where(torso[None, :], width * builds[:, None], width)
    head = PART_INDEX["head"]
    radius = width.copy()
    radius_y = width.copy()
    radius[:, head] = HEAD_RADII[0] * heights
    radius_y[:, head] = HEAD_RADII[1] * heights
    n_parts = len(PARTS)
    slots = np.array([p_[4] for p_ in PARTS])
    color = colors[:, slots].astype(np.float64)  # (P, NP, 3)
    accent = np.broadcast_to(colors[:, None, 5], (p, n_parts, 3)).astype(np.float64).copy()
    accent[:, head] = colors[:, 3]
    kind = np.full((p, n_parts), KIND_CAPSULE)
    kind[:, head] = KIND_HEAD
    return Primitives(
        a=a.reshape(-1, 3), b=b.reshape(-1, 3), radius=radius.reshape(-1), radius_y=radius_y.reshape(-1),
        kind=kind.reshape(-1), person=np.repeat(np.arange(p), n_parts), part=np.tile(np.arange(n_parts), p),
        color=color.reshape(-1, 3), forward=np.repeat(forward_cam, n_parts, 0), right=np.repeat(right_cam, n_parts, 0),
        accent=accent.reshape(-1, 3), striped=np.repeat(striped, n_parts) & (np.tile(slots, p) == 0),
    )  # fmt: skip


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def empty_primitives() -> Primitives:
    z3 = np.zeros((0, 3))
    z1 = np.zeros(0)
    return Primitives(z3, z3, z1, z1, z1.astype(int), z1.astype(int), z1.astype(int), z3, z3, z3, z3,
                      z1.astype(bool))  # fmt: skip


def concat(parts: list[Primitives]) -> Primitives:
    return Primitives(**{f: np.concatenate([getattr(p, f) for p in parts]) for f in Primitives.__dataclass_fields__})


def render(prims: Primitives, camera: Camera, background: np.ndarray) -> Rendered:
    """Rasterise primitives over a background (H, W, 3) uint8."""
    h, w = camera.height, camera.width
    fx, fy, cx, cy = camera.K[0, 0], camera.K[1, 1], camera.K[0, 2], camera.K[1, 2]
    image = background.copy()
    depth = np.full((h, w), np.inf, dtype=np.float32)
    person = np.full((h, w), BACKGROUND_ID, dtype=np.int32)
    part = np.full((h, w), -1, dtype=np.int16)
    in_front = (prims.a[:, 2] > 0.3) & (prims.b[:, 2] > 0.3)
    idx = np.flatnonzero(in_front)
    if len(idx) == 0:
        return Rendered(image, depth, person, part)
    a, b = prims.a[idx], prims.b[idx]
    za, zb = a[:, 2], b[:, 2]
    a2 = np.stack([fx * a[:, 0] / za + cx, fy * a[:, 1] / za + cy], 1)
    b2 = np.stack([fx * b[:, 0] / zb + cx, fy * b[:, 1] / zb + cy], 1)
    zmid = 0.5 * (za + zb)
    rx = prims.radius[idx] * fx / zmid
    ry = prims.radius_y[idx] * fy / zmid
    x0 = np.floor(np.minimum(a2[:, 0], b2[:, 0]) - rx).clip(0, w).astype(np.int64)
    x1 = np.ceil(np.maximum(a2[:, 0], b2[:, 0]) + rx + 1).clip(0, w).astype(np.int64)
    y0 = np.floor(np.minimum(a2[:, 1], b2[:, 1]) - ry).clip(0, h).astype(np.int64)
    y1 = np.ceil(np.maximum(a2[:, 1], b2[:, 1]) + ry + 1).clip(0, h).astype(np.int64)
    bw, bh = x1 - x0, y1 - y0
    counts = np.where((bw > 0) & (bh > 0), bw * bh, 0)
    order = np.argsort(zmid)  # near first, so a sample budget drops only the farthest primitives
    keep = order[np.cumsum(counts[order]) <= MAX_SAMPLES]
    sel = np.zeros(len(idx), dtype=bool)
    sel[keep] = True
    counts = np.where(sel, counts, 0)
    total = int(counts.sum())
    if total == 0:
        return Rendered(image, depth, person, part)

    prim = np.repeat(np.arange(len(idx), dtype=np.int32), counts)
    local = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    row, col = np.divmod(local, bw[prim])
    px = x0[prim] + col
    py = y0[prim] + row

    # Footprint test in float32: capsule = distance to the projected segment, head = ellipse,
    # panel = rectangle. Depth is computed only for the samples inside.
    a2f, b2f = a2.astype(np.float32), b2.astype(np.float32)
    ab = b2f - a2f
    seg2 = np.maximum((ab**2).sum(1), 1e-9)
    ap_x = px.astype(np.float32) - a2f[prim, 0]
    ap_y = py.astype(np.float32) - a2f[prim, 1]
    t = np.clip((ap_x * ab[prim, 0] + ap_y * ab[prim, 1]) / seg2[prim], 0.0, 1.0)
    dx = (ap_x - t * ab[prim, 0]) / rx.astype(np.float32)[prim]
    dy = (ap_y - t * ab[prim, 1]) / ry.astype(np.float32)[prim]
    kinds = prims.kind[idx]
    if (kinds == KIND_PANEL).any():
        panel_sample = (kinds == KIND_PANEL)[prim]
        q = np.where(panel_sample, np.maximum(np.abs(dx), np.abs(dy)) ** 2, dx * dx + dy * dy)
    else:
        q = dx * dx + dy * dy
    keep = np.flatnonzero(q <= 1.0)
    prim, px, py, t, dx, dy, q = prim[keep], px[keep], py[keep], t[keep], dx[keep], dy[keep], q[keep]
    bulge = np.sqrt(1.0 - q)
    z_axis = za[prim] + t * (zb - za)[prim]
    z = np.where(kinds[prim] == KIND_PANEL, z_axis, z_axis - prims.radius[idx][prim] * bulge)

    pix = py * w + px
    order = np.lexsort((z, pix))
    first = np.ones(len(order), dtype=bool)
    first[1:] = pix[order[1:]] != pix[order[:-1]]
    win = order[first]
    wpix = pix[win]

    # Shading of the winning samples only.
    g = idx[prim[win]]
    dxw, dyw, bw_ = dx[win], dy[win], bulge[win]
    shade = 0.45 + 0.55 * bw_
    base = prims.color[g].astype(np.float32)
    normal = np.stack([dxw, dyw, -bw_], 1)
    facing = (normal * prims.forward[g]).sum(1)
    heads = np.flatnonzero(prims.kind[g] == KIND_HEAD)
    if len(heads):
        hg = g[heads]
        hair = facing[heads] < 0.15
        base[heads[hair]] = prims.accent[hg[hair]]
        looks = [
            (
                normal[heads] * _unit(prims.forward[hg] * 0.9 + side * 0.35 * prims.right[hg] - np.array([0, 0.12, 0]))
            ).sum(1)
            for side in (-1.0, 1.0)
        ]
        eyes = ~hair & ((looks[0] > 0.975) | (looks[1] > 0.975))
        base[heads[eyes]] = 25.0
    front_band = (prims.part[g] == PART_INDEX["torso_upper"]) & (facing > 0.35) & (np.abs(dxw) < 0.3)
    base[front_band] = prims.accent[g][front_band]
    stripes = prims.striped[g] & (np.sin(py[win] * 0.9) > 0.3)
    shade = np.where(stripes, shade * 0.7, shade)
    shade = np.where(prims.kind[g] == KIND_PANEL, 0.85 + 0.15 * (np.sin(px[win] * 0.3) > 0), shade)
    rgb = np.clip(base * shade[:, None], 0, 255).astype(np.uint8)

    flat_image = image.reshape(-1, 3)
    flat_image[wpix] = rgb
    depth.reshape(-1)[wpix] = z[win]
    person.reshape(-1)[wpix] = prims.person[g]
    part.reshape(-1)[wpix] = prims.part[g]
    return Rendered(image, depth, person, part)


def background_image(rng: np.random.Generator, camera: Camera) -> np.ndarray:
    """A varied static background: sky, far buildings, and a tiled ground in perspective."""
    h, w = camera.height, camera.width
    fx, fy, cx, cy = camera.K[0, 0], camera.K[1, 1], camera.K[0, 2], camera.K[1, 2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    # Ray directions in world coordinates; the ground is where the ray goes down.
    rays_cam = np.stack([(xs - cx) / fx, (ys - cy) / fy, np.ones_like(xs)], -1)
    rays = rays_cam @ camera.rotation
    down = rays[..., 1] < -1e-4
    dist = np.where(down, camera.height_m / np.maximum(-rays[..., 1], 1e-4), np.inf)
    gx = np.where(down, rays[..., 0] * np.where(down, dist, 0.0), 0.0)
    gz = np.where(down, rays[..., 2] * np.where(down, dist, 0.0), 0.0)
    tile = rng.uniform(0.6, 2.0)
    c1, c2 = rng.uniform(60, 200, 3), rng.uniform(60, 200, 3)
    checker = ((np.floor(gx / tile) + np.floor(gz / tile)) % 2)[..., None]
    ground = c1 * checker + c2 * (1 - checker)
    fade = np.clip(dist / 60.0, 0, 1)[..., None]
    ground = ground * (1 - fade) + np.array([150.0, 150, 150]) * fade
    sky_top, sky_bottom = rng.uniform([60, 100, 160], [140, 190, 255]), rng.uniform([170, 190, 200], [240, 240, 250])
    frac = np.clip(ys / max(h, 1), 0, 1)[..., None]
    sky = sky_top * (1 - frac) + sky_bottom * frac
    # Far buildings: random rectangles standing on the horizon.
    horizon = np.clip(cy - fy * np.tan(camera.pitch), 0, h)
    for _ in range(int(rng.integers(4, 10))):
        bx0 = rng.uniform(-0.1, 1.0) * w
        bw_ = rng.uniform(0.05, 0.25) * w
        top = horizon - rng.uniform(0.05, 0.35) * h
        mask = (xs >= bx0) & (xs < bx0 + bw_) & (ys >= top) & (ys < horizon)
        sky = np.where(mask[..., None], rng.uniform(50, 180, 3) * (0.85 + 0.15 * ((ys // 9) % 2))[..., None], sky)
    image = np.where(down[..., None], ground, sky)
    noise = rng.normal(0, 6, (h, w, 1))
    return np.clip(image + noise, 0, 255).astype(np.uint8)
