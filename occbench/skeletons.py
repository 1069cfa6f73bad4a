"""Joint schemas (crowdpose14, coco17, jta22) and the mappings between them.

A schema is the single source of truth for joint names, OKS sigmas, left/right flip
pairs and the drawing skeleton. Evaluators, converters, models and the report all read
them from here, so a dataset's manifest only needs to name its schema.

Mappings carry the per-joint visibility class through and say which target joints the
source cannot provide; those come out as ``unlabeled``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np


class Visibility(IntEnum):
    """Why a joint is (not) visible. Stored as int8 in the unified tables."""

    UNLABELED = 0
    VISIBLE = 1
    OCCLUDED = 2
    SELF_OCCLUDED = 3
    TRUNCATED = 4
    LABELED_UNKNOWN = 5

    @property
    def label(self) -> str:
        return self.name.lower()


VISIBILITY_NAMES: tuple[str, ...] = tuple(v.label for v in Visibility)

# COCO's v flag for each class (EVALUATION.md): visible -> 2; occluded, self-occluded and
# labeled-unknown -> 1; truncated and unlabeled -> 0 (written as 0, 0, 0).
COCO_V_OF_CLASS = np.array([0, 2, 1, 1, 0, 1], dtype=np.int64)

# Classes whose occlusion status is known; the denominator of the occlusion ratio.
KNOWN_STATUS_CLASSES = (Visibility.VISIBLE, Visibility.OCCLUDED, Visibility.SELF_OCCLUDED)
# Classes that count as "labelled" (COCO v > 0).
LABELLED_CLASSES = (
    Visibility.VISIBLE,
    Visibility.OCCLUDED,
    Visibility.SELF_OCCLUDED,
    Visibility.LABELED_UNKNOWN,
)


@dataclass(frozen=True)
class JointSchema:
    """A joint layout: names, OKS sigmas, flip pairs and a 0-based drawing skeleton."""

    name: str
    joint_names: tuple[str, ...]
    sigmas: tuple[float, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    skeleton: tuple[tuple[int, int], ...]
    description: str = ""

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def sigmas_array(self) -> np.ndarray:
        return np.asarray(self.sigmas, dtype=np.float64)

    def index(self, joint_name: str) -> int:
        return self.joint_names.index(joint_name)

    @property
    def flip_permutation(self) -> np.ndarray:
        """Index array that swaps every left joint with its right partner."""
        perm = np.arange(self.num_joints)
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm

    def skeleton_one_based(self) -> list[list[int]]:
        """The skeleton in the 1-based convention of COCO category files."""
        return [[a + 1, b + 1] for a, b in self.skeleton]

    def check(self) -> None:
        """Raise ValueError if the schema is internally inconsistent."""
        k = self.num_joints
        if len(self.sigmas) != k:
            raise ValueError(f"schema {self.name}: {len(self.sigmas)} sigmas for {k} joints")
        if len(set(self.joint_names)) != k:
            raise ValueError(f"schema {self.name}: duplicate joint names")
        seen: set[int] = set()
        for a, b in self.flip_pairs:
            if not (0 <= a < k and 0 <= b < k) or a == b or a in seen or b in seen:
                raise ValueError(f"schema {self.name}: invalid flip pair ({a}, {b})")
            seen.update((a, b))
        for a, b in self.skeleton:
            if not (0 <= a < k and 0 <= b < k) or a == b:
                raise ValueError(f"schema {self.name}: invalid skeleton edge ({a}, {b})")


CROWDPOSE14 = JointSchema(
    name="crowdpose14",
    joint_names=(
        "left_shoulder",
        "right_shoulder",
        "left_elbow",
        "right_elbow",
        "left_wrist",
        "right_wrist",
        "left_hip",
        "right_hip",
        "left_knee",
        "right_knee",
        "left_ankle",
        "right_ankle",
        "head",
        "neck",
    ),
    sigmas=tuple(
        s / 10.0 for s in (0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89, 0.79, 0.79)
    ),
    flip_pairs=((0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11)),
    skeleton=(
        (12, 13),
        (13, 0),
        (13, 1),
        (0, 2),
        (2, 4),
        (1, 3),
        (3, 5),
        (0, 6),
        (1, 7),
        (6, 7),
        (6, 8),
        (8, 10),
        (7, 9),
        (9, 11),
    ),
    description="CrowdPose: 12 limb joints plus head top and neck (Li et al., CVPR 2019).",
)

COCO17 = JointSchema(
    name="coco17",
    joint_names=(
        "nose",
        "left_eye",
        "right_eye",
        "left_ear",
        "right_ear",
        "left_shoulder",
        "right_shoulder",
        "left_elbow",
        "right_elbow",
        "left_wrist",
        "right_wrist",
        "left_hip",
        "right_hip",
        "left_knee",
        "right_knee",
        "left_ankle",
        "right_ankle",
    ),
    sigmas=tuple(
        s / 10.0
        for s in (0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89)
    ),
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    skeleton=(
        (15, 13),
        (13, 11),
        (16, 14),
        (14, 12),
        (11, 12),
        (5, 11),
        (6, 12),
        (5, 6),
        (5, 7),
        (6, 8),
        (7, 9),
        (8, 10),
        (1, 2),
        (0, 1),
        (0, 2),
        (1, 3),
        (2, 4),
        (3, 5),
        (4, 6),
    ),
    description="COCO keypoints, 17 joints.",
)

# JTA has no published OKS sigmas. occbench uses the CrowdPose/COCO sigma of the anatomically
# nearest joint (head/neck/clavicles 0.079, spine and hips 0.107), documented in docs/.
JTA22 = JointSchema(
    name="jta22",
    joint_names=(
        "head_top",
        "head_center",
        "neck",
        "right_clavicle",
        "right_shoulder",
        "right_elbow",
        "right_wrist",
        "left_clavicle",
        "left_shoulder",
        "left_elbow",
        "left_wrist",
        "spine0",
        "spine1",
        "spine2",
        "spine3",
        "spine4",
        "right_hip",
        "right_knee",
        "right_ankle",
        "left_hip",
        "left_knee",
        "left_ankle",
    ),
    sigmas=tuple(
        s / 10.0
        for s in (
            0.79,
            0.79,
            0.79,
            0.79,
            0.79,
            0.72,
            0.62,
            0.79,
            0.79,
            0.72,
            0.62,
            1.07,
            1.07,
            1.07,
            1.07,
            1.07,
            1.07,
            0.87,
            0.89,
            1.07,
            0.87,
            0.89,
        )
    ),
    flip_pairs=((3, 7), (4, 8), (5, 9), (6, 10), (16, 19), (17, 20), (18, 21)),
    skeleton=(
        (0, 1),
        (1, 2),
        (2, 3),
        (3, 4),
        (4, 5),
        (5, 6),
        (2, 7),
        (7, 8),
        (8, 9),
        (9, 10),
        (2, 11),
        (11, 12),
        (12, 13),
        (13, 14),
        (14, 15),
        (15, 16),
        (16, 17),
        (17, 18),
        (15, 19),
        (19, 20),
        (20, 21),
    ),
    description="JTA (Joint Track Auto, Fabbri et al. ECCV 2018), 22 joints from GTA V.",
)

SCHEMAS: dict[str, JointSchema] = {s.name: s for s in (CROWDPOSE14, COCO17, JTA22)}


def get_schema(name: str) -> JointSchema:
    try:
        return SCHEMAS[name]
    except KeyError:
        raise KeyError(f"unknown joint schema {name!r}; known: {', '.join(SCHEMAS)}") from None


@dataclass(frozen=True)
class JointMapping:
    """Maps joints of one schema onto another: ``target[j] <- source[source_index[j]]``.

    ``source_index[j] == -1`` means the source cannot provide target joint ``j``.
    """

    source: str
    target: str
    source_index: tuple[int, ...]
    note: str = ""
    _index: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        idx = np.asarray(self.source_index, dtype=np.int64)
        if len(idx) != get_schema(self.target).num_joints:
            raise ValueError(f"mapping {self.source}->{self.target}: wrong length")
        if idx.max(initial=-1) >= get_schema(self.source).num_joints:
            raise ValueError(f"mapping {self.source}->{self.target}: index out of range")
        object.__setattr__(self, "_index", idx)

    @property
    def missing_joints(self) -> tuple[str, ...]:
        """Target joints the source cannot provide."""
        names = get_schema(self.target).joint_names
        return tuple(names[j] for j in np.flatnonzero(self._index < 0))

    def apply(self, keypoints: np.ndarray, visibility: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map ``(..., K_src, D)`` keypoints and ``(..., K_src)`` visibility to the target.

        Joints the source cannot provide get coordinates 0 and class ``unlabeled``.
        """
        provided = self._index >= 0
        safe = np.where(provided, self._index, 0)
        kpts = np.take(keypoints, safe, axis=-2)
        vis = np.take(visibility, safe, axis=-1)
        kpts = np.where(provided[:, None], kpts, 0)
        vis = np.where(provided, vis, Visibility.UNLABELED).astype(visibility.dtype, copy=False)
        return kpts, vis


def _by_name(source: JointSchema, target: JointSchema) -> tuple[int, ...]:
    return tuple(source.joint_names.index(n) if n in source.joint_names else -1 for n in target.joint_names)


MAPPINGS: dict[tuple[str, str], JointMapping] = {}


def _register(mapping: JointMapping) -> None:
    MAPPINGS[(mapping.source, mapping.target)] = mapping


# The OccNet authors' JTA -> CrowdPose mapping (SOURCES.md): head <- head_top, neck <- neck.
_register(
    JointMapping(
        "jta22",
        "crowdpose14",
        (8, 4, 9, 5, 10, 6, 19, 16, 20, 17, 21, 18, 0, 2),
        note="OccNet authors' mapping; CrowdPose head is JTA head_top.",
    )
)
# The 12 limb joints shared by COCO and CrowdPose (same names, same order).
_register(JointMapping("coco17", "crowdpose14", _by_name(COCO17, CROWDPOSE14), note="12 shared limb joints."))
_register(JointMapping("crowdpose14", "coco17", _by_name(CROWDPOSE14, COCO17), note="12 shared limb joints."))
_register(
    JointMapping(
        "jta22",
        "coco17",
        tuple(
            -1 if j < 5 else MAPPINGS[("jta22", "crowdpose14")].source_index[j - 5] for j in range(COCO17.num_joints)
        ),
        note="12 limb joints via the OccNet mapping; JTA has no face joints.",
    )
)
for _s in SCHEMAS.values():
    _register(JointMapping(_s.name, _s.name, tuple(range(_s.num_joints)), note="identity"))
    _s.check()


def get_mapping(source: str, target: str) -> JointMapping:
    try:
        return MAPPINGS[(source, target)]
    except KeyError:
        raise KeyError(f"no joint mapping from {source!r} to {target!r}") from None
