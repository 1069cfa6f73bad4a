"""The unified dataset format: table columns, the in-memory split, and the manifest.

On disk a dataset is a folder::

    DIR/manifest.json                      name, source, schema, sigmas, splits, counts,
                                           provenance, content hashes
    DIR/<split>/images/<part>.parquet      one row per image or video frame
    DIR/<split>/instances/<part>.parquet   one row per person instance

A split may have many parts (JTA writes one per sequence), so conversion streams and
resumes part by part, and loading never parses one giant file. In memory a split is a
``SplitData``: two pandas tables of scalar columns plus aligned numpy arrays for the
keypoints, so evaluators and loaders stay vectorised.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from occbench.skeletons import COCO_V_OF_CLASS, KNOWN_STATUS_CLASSES, LABELLED_CLASSES, Visibility

FORMAT_NAME = "occbench-dataset"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"

# Per image or frame. Missing values: NaN for floats, "" for strings, -1 for ints.
IMAGE_COLUMNS: dict[str, pa.DataType] = {
    "image_id": pa.int64(),
    "file_name": pa.string(),  # relative to the dataset's image root
    "width": pa.int32(),
    "height": pa.int32(),
    "crowd_index": pa.float64(),  # as published by the source; NaN if it publishes none
    "crowd_index_recomputed": pa.float64(),  # CrowdPose's formula, computed by occbench
    "sequence": pa.string(),  # video sequence name ("" for still images)
    "frame": pa.int64(),  # the source's frame number (-1 for still images)
    "video": pa.string(),  # video file relative to the video root ("" if frames are files)
    "video_frame": pa.int64(),  # 0-based frame index inside ``video`` (-1 if none)
    "extra": pa.string(),  # JSON object of source fields occbench does not model ("" if none)
}

# Per person instance.
INSTANCE_COLUMNS: dict[str, pa.DataType] = {
    "instance_id": pa.int64(),
    "image_id": pa.int64(),
    "category_id": pa.int32(),
    "bbox_x": pa.float64(),
    "bbox_y": pa.float64(),
    "bbox_w": pa.float64(),
    "bbox_h": pa.float64(),
    "area": pa.float64(),  # the area OKS uses, under the manifest's area_convention
    "iscrowd": pa.bool_(),
    "num_keypoints": pa.int32(),  # exactly as the source defines it
    "occlusion_ratio": pa.float64(),  # occluded / known-status joints; NaN if none known
    "self_occlusion_ratio": pa.float64(),  # self-occluded / known-status joints
    "track_id": pa.int64(),  # person id across frames (-1 if the source has none)
    "max_iou": pa.float64(),  # OCHuman's MaxIoU (NaN elsewhere)
    "extra": pa.string(),
}

# Array columns stored as fixed-size lists: keypoints (x, y interleaved), visibility class,
# and optionally 3D joints (x, y, z interleaved, camera coordinates in metres).
KEYPOINTS_COLUMN = "keypoints"
VISIBILITY_COLUMN = "visibility"
KEYPOINTS_3D_COLUMN = "keypoints_3d"

# How ``area`` was obtained, which is what OKS normalises by.
AREA_CONVENTIONS = {
    "annotation": "the source's own area field (COCO: segmentation area; OCHuman: box area)",
    "bbox_x0.53": "CrowdPose: bbox width * height * 0.53",
    "bbox": "bbox width * height",
}

IMAGE_DEFAULTS: dict[str, Any] = {
    "crowd_index": np.nan,
    "crowd_index_recomputed": np.nan,
    "sequence": "",
    "frame": -1,
    "video": "",
    "video_frame": -1,
    "extra": "",
}
INSTANCE_DEFAULTS: dict[str, Any] = {
    "category_id": 1,
    "iscrowd": False,
    "occlusion_ratio": np.nan,
    "self_occlusion_ratio": np.nan,
    "track_id": -1,
    "max_iou": np.nan,
    "extra": "",
}


@dataclass
class SplitData:
    """One split (or one part of it) in memory.

    ``keypoints[i]``, ``visibility[i]`` and ``keypoints_3d[i]`` belong to
    ``instances.iloc[i]``.
    """

    images: pd.DataFrame
    instances: pd.DataFrame
    keypoints: np.ndarray  # (N, K, 2) float64
    visibility: np.ndarray  # (N, K) int8, values of skeletons.Visibility
    keypoints_3d: np.ndarray | None = None  # (N, K, 3) float64

    @property
    def num_joints(self) -> int:
        return int(self.visibility.shape[1])

    def __len__(self) -> int:
        return len(self.instances)

    def coco_keypoints(self) -> np.ndarray:
        """(N, K, 3) keypoints in COCO's x, y, v convention; v=0 joints are (0, 0, 0)."""
        v = COCO_V_OF_CLASS[self.visibility]
        out = np.concatenate([self.keypoints, v[..., None].astype(np.float64)], axis=-1)
        out[v == 0] = 0.0
        return out

    def select_instances(self, mask: np.ndarray) -> SplitData:
        """A view with only the instances where ``mask`` is true (images unchanged)."""
        mask = np.asarray(mask, dtype=bool)
        return SplitData(
            images=self.images,
            instances=self.instances.loc[mask].reset_index(drop=True),
            keypoints=self.keypoints[mask],
            visibility=self.visibility[mask],
            keypoints_3d=None if self.keypoints_3d is None else self.keypoints_3d[mask],
        )

    def select_images(self, image_mask: np.ndarray) -> SplitData:
        """Only the images where ``image_mask`` is true, and their instances."""
        images = self.images.loc[np.asarray(image_mask, dtype=bool)].reset_index(drop=True)
        keep = self.instances["image_id"].isin(images["image_id"]).to_numpy()
        out = self.select_instances(keep)
        out.images = images
        return out


def class_counts(visibility: np.ndarray) -> np.ndarray:
    """(N, len(Visibility)) int64: how many of each instance's joints are in each class.

    One ``bincount`` over all joints: counting class by class along the short joint axis
    costs several times more. Codes outside the classes are not counted.
    """
    visibility = np.asarray(visibility)
    n, classes = len(visibility), len(Visibility)
    keys = np.arange(0, n * classes, classes, dtype=np.int64)[:, None] + visibility
    if visibility.size and (visibility.min() < 0 or visibility.max() >= classes):
        keys = keys[(visibility >= 0) & (visibility < classes)]
    return np.bincount(keys.ravel(), minlength=n * classes).reshape(n, classes)


def occlusion_ratios(visibility: np.ndarray, counts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per instance (occluded, self-occluded) / known-status joints; NaN where none is known.
    ``counts``: ``class_counts(visibility)`` when the caller has it already."""
    counts = class_counts(visibility) if counts is None else counts
    known = sum(counts[:, c] for c in KNOWN_STATUS_CLASSES)
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = np.where(known > 0, known, np.nan)
        return counts[:, Visibility.OCCLUDED] / denom, counts[:, Visibility.SELF_OCCLUDED] / denom


def classes_from_coco_v(v: np.ndarray, schema: str) -> np.ndarray:
    """Visibility classes from COCO-style v flags (0/1/2) of a CrowdPose or COCO file.

    v=2 -> visible, v=0 -> unlabeled, v=1 -> occluded (COCO and CrowdPose do not say whether
    the occluder is another person or the body itself). CrowdPose's head and neck are only
    ever v in {0, 1}, where 1 means "labelled", so there v=1 -> labeled_unknown. Values
    outside 0..2 are left to the caller to reject (see ``invalid_coco_v``).
    """
    v = np.asarray(v)
    classes = np.full(v.shape, Visibility.UNLABELED, dtype=np.int8)
    classes[v == 2] = Visibility.VISIBLE
    classes[v == 1] = Visibility.OCCLUDED
    if schema == "crowdpose14":
        head_neck = np.zeros(v.shape[-1], dtype=bool)
        head_neck[[12, 13]] = True
        classes[(v == 1) & head_neck] = Visibility.LABELED_UNKNOWN
    return classes


def invalid_coco_v(v: np.ndarray) -> np.ndarray:
    """True where a COCO v flag is not 0, 1 or 2."""
    return ~np.isin(v, (0, 1, 2))


def labelled_mask(visibility: np.ndarray) -> np.ndarray:
    """True where a joint is labelled (COCO v > 0)."""
    return np.isin(visibility, np.array(LABELLED_CLASSES, dtype=visibility.dtype))


def dump_extra(fields: dict[str, Any]) -> str:
    """The canonical JSON text of an ``extra`` column ("" when there is nothing)."""
    return json.dumps(fields, separators=(",", ":"), allow_nan=False) if fields else ""


def make_images_table(columns: dict[str, Any]) -> pd.DataFrame:
    """Build an images table from the required columns, filling defaults and dtypes."""
    return _make_table(columns, IMAGE_COLUMNS, IMAGE_DEFAULTS)


def make_instances_table(columns: dict[str, Any]) -> pd.DataFrame:
    """Build an instances table from the required columns, filling defaults and dtypes."""
    return _make_table(columns, INSTANCE_COLUMNS, INSTANCE_DEFAULTS)


def _make_table(columns: dict[str, Any], spec: dict[str, pa.DataType], defaults: dict[str, Any]) -> pd.DataFrame:
    unknown = set(columns) - set(spec)
    if unknown:
        raise ValueError(f"unknown columns {sorted(unknown)}")
    lengths = {len(v) for v in columns.values() if not np.isscalar(v)}
    if len(lengths) > 1:
        raise ValueError(f"columns have different lengths {sorted(lengths)}")
    n = lengths.pop() if lengths else 0
    data = {}
    for name, dtype in spec.items():
        if name in columns:
            value = columns[name]
        elif name in defaults:
            value = defaults[name]
        else:
            raise ValueError(f"missing required column {name!r}")
        data[name] = _as_numpy(value, dtype, n)
    return pd.DataFrame(data)


def _as_numpy(value: Any, dtype: pa.DataType, n: int) -> np.ndarray:
    if pa.types.is_string(dtype):
        if np.isscalar(value):
            return np.full(n, value, dtype=object)
        return np.asarray(value, dtype=object)
    np_dtype = dtype.to_pandas_dtype()
    if np.isscalar(value):
        return np.full(n, value, dtype=np_dtype)
    return np.asarray(value).astype(np_dtype, copy=False)


def empty_split(num_joints: int, with_3d: bool = False) -> SplitData:
    return SplitData(
        images=make_images_table({"image_id": [], "file_name": [], "width": [], "height": []}),
        instances=make_instances_table(
            {
                k: []
                for k in ("instance_id", "image_id", "bbox_x", "bbox_y", "bbox_w", "bbox_h", "area", "num_keypoints")
            }
        ),
        keypoints=np.zeros((0, num_joints, 2)),
        visibility=np.zeros((0, num_joints), dtype=np.int8),
        keypoints_3d=np.zeros((0, num_joints, 3)) if with_3d else None,
    )


def concat_splits(parts: list[SplitData]) -> SplitData:
    if not parts:
        raise ValueError("no parts to concatenate")
    with_3d = [p.keypoints_3d is not None for p in parts]
    if any(with_3d) and not all(with_3d):
        raise ValueError("parts disagree on whether they carry 3D joints")
    return SplitData(
        images=pd.concat([p.images for p in parts], ignore_index=True),
        instances=pd.concat([p.instances for p in parts], ignore_index=True),
        keypoints=np.concatenate([p.keypoints for p in parts]),
        visibility=np.concatenate([p.visibility for p in parts]),
        keypoints_3d=np.concatenate([p.keypoints_3d for p in parts]) if all(with_3d) else None,
    )


@dataclass
class SplitInfo:
    """What the manifest records about one split."""

    images: int
    instances: int
    crowd: int
    with_keypoints: int  # instances with num_keypoints > 0 and not crowd
    visibility_counts: dict[str, int]
    parts: list[str]
    files: dict[str, str]  # path relative to the dataset folder -> sha256


@dataclass
class Manifest:
    """The dataset's self-description, stored as ``manifest.json``."""

    name: str
    source: str
    schema: str
    joint_names: list[str]
    sigmas: list[float]
    flip_pairs: list[list[int]]
    skeleton: list[list[int]]
    area_convention: str
    splits: dict[str, SplitInfo]
    image_root: str | None = None  # relative to the dataset folder, or absolute
    video_root: str | None = None
    camera: dict[str, Any] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    source_meta: dict[str, Any] = field(default_factory=dict)  # e.g. COCO info/licenses
    content_hash: str = ""
    format: str = FORMAT_NAME
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        data = dict(data)
        data["splits"] = {k: SplitInfo(**v) for k, v in data.get("splits", {}).items()}
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})
