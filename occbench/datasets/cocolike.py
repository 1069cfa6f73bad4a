"""Reading COCO-style keypoint JSON (COCO, CrowdPose, occbench exports) into arrays.

This is the shared, strict front half of the CrowdPose and COCO converters: it parses the
file, checks every record, and returns columns and numpy arrays. Source-specific rules
(visibility semantics, area conventions, crowdIndex) live in the converters.

Every problem raises ``OccbenchError`` naming the file, the record (image or annotation
id, or list position) and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from occbench.datasets.crowding import crowd_index
from occbench.datasets.format import (
    SplitData,
    dump_extra,
    invalid_coco_v,
    labelled_mask,
    make_images_table,
    make_instances_table,
    occlusion_ratios,
)
from occbench.datasets.validate import unsafe_relative_paths
from occbench.errors import OccbenchError
from occbench.progress import track

IMAGE_KEYS = ("id", "file_name", "width", "height")
ANNOTATION_KEYS = ("id", "image_id", "bbox", "keypoints")
# Fields the unified tables model directly; everything else is kept verbatim in `extra`.
MODELLED_IMAGE_FIELDS = {"id", "file_name", "width", "height", "crowdIndex", "occbench"}
MODELLED_ANNOTATION_FIELDS = {
    "id",
    "image_id",
    "category_id",
    "bbox",
    "area",
    "iscrowd",
    "keypoints",
    "num_keypoints",
    "occbench",
}


@dataclass
class CocoLikeFile:
    """A parsed COCO-style keypoint file, checked record by record."""

    path: Path
    top_level: dict[str, Any]  # everything but images/annotations (info, licenses, categories, occbench)
    image_id: np.ndarray
    file_name: list[str]
    width: np.ndarray
    height: np.ndarray
    crowd_index: np.ndarray  # NaN where absent
    image_extra: list[str]  # JSON of unmodelled fields ("" if none)
    image_occbench: list[dict[str, Any] | None]
    ann_id: np.ndarray
    ann_image_id: np.ndarray
    category_id: np.ndarray
    bbox: np.ndarray  # (N, 4) xywh
    area: np.ndarray  # NaN where absent
    iscrowd: np.ndarray  # bool
    num_keypoints: np.ndarray  # -1 where absent
    keypoints: np.ndarray  # (N, K, 3)
    ann_extra: list[str]
    ann_occbench: list[dict[str, Any] | None]
    warnings: list[str] = field(default_factory=list)

    @property
    def num_joints(self) -> int:
        return int(self.keypoints.shape[1])

    @property
    def categories(self) -> list[dict[str, Any]]:
        return list(self.top_level.get("categories") or [])


def load_json(path: Path) -> Any:
    """Parse a JSON file (orjson's speed; the standard library's messages for malformed input)."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise OccbenchError("file not found", file=path) from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass  # re-parse with the standard library: NaN/Infinity tokens, and its precise messages
    try:
        return json.loads(raw.decode("utf-8"))
    except json.JSONDecodeError as exc:
        raise OccbenchError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", file=path) from None
    except UnicodeDecodeError as exc:
        raise OccbenchError(f"not UTF-8 text ({exc.reason})", file=path) from None


def _extra_json(record: dict[str, Any], modelled: set[str]) -> str:
    return dump_extra({k: v for k, v in record.items() if k not in modelled})


def _require_list(data: dict[str, Any], key: str, path: Path) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list):
        raise OccbenchError(f"missing or not a list (got {type(value).__name__})", file=path, field=key)
    return value


def _numbers(values: list[Any], path: Path, label: str, ids: list[Any], field_name: str, dtype: Any) -> np.ndarray:
    """np.asarray with an error that names the first offending record."""
    try:
        arr = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError):
        for rec_id, value in zip(ids, values, strict=False):
            try:
                np.asarray(value, dtype=dtype)
            except (TypeError, ValueError):
                raise OccbenchError(
                    f"not a number ({value!r})", file=path, record=f"{label} {rec_id}", field=field_name
                ) from None
        raise
    if arr.dtype.kind == "f":
        flat = arr.reshape(len(values), -1)
        bad = np.flatnonzero(~np.isfinite(flat).all(axis=1))
        if len(bad):
            raise OccbenchError("NaN or inf value", file=path, record=f"{label} {ids[bad[0]]}", field=field_name)
    return arr


def _check_fields(records: list[Any], keys: tuple[str, ...], path: Path, label: str) -> None:
    for index, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise OccbenchError("not a JSON object", file=path, record=f"{label} #{index}")
        for key in keys:
            if key not in rec or rec[key] is None:
                rec_id = rec.get("id", f"#{index}")
                raise OccbenchError("missing", file=path, record=f"{label} {rec_id}", field=key)


def _check_unique(ids: np.ndarray, path: Path, label: str) -> None:
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise OccbenchError("duplicate id", file=path, record=f"{label} {int(uniq[counts > 1][0])}", field="id")


def parse_cocolike(
    path: str | Path, expected_joints: int | None = None, data: dict[str, Any] | None = None
) -> CocoLikeFile:
    """Parse and check a COCO-style keypoint file (``data`` skips re-reading the JSON)."""
    path = Path(path)
    if data is None:
        data = load_json(path)
    if not isinstance(data, dict):
        raise OccbenchError("expected a JSON object with 'images' and 'annotations'", file=path)
    images = _require_list(data, "images", path)
    anns = _require_list(data, "annotations", path)
    _check_fields(images, IMAGE_KEYS, path, "image")
    _check_fields(anns, ANNOTATION_KEYS, path, "annotation")

    img_ids_raw = [im["id"] for im in images]
    image_id = _numbers(img_ids_raw, path, "image", img_ids_raw, "id", np.int64)
    _check_unique(image_id, path, "image")
    file_name = [im["file_name"] for im in images]
    escapes = np.flatnonzero(unsafe_relative_paths(file_name))
    if len(escapes):
        i = escapes[0]
        raise OccbenchError(
            f"{file_name[i]!r} must be a relative path inside the image root",
            file=path,
            record=f"image {img_ids_raw[i]}",
            field="file_name",
        )
    width = _numbers([im["width"] for im in images], path, "image", img_ids_raw, "width", np.float64)
    height = _numbers([im["height"] for im in images], path, "image", img_ids_raw, "height", np.float64)
    for name, values in (("width", width), ("height", height)):
        bad = np.flatnonzero((values <= 0) | (values != np.round(values)))
        if len(bad):
            raise OccbenchError(
                "must be a positive integer", file=path, record=f"image {img_ids_raw[bad[0]]}", field=name
            )
    crowd_raw = [im.get("crowdIndex") for im in images]
    crowd_index = np.asarray([np.nan if c is None else c for c in crowd_raw], dtype=np.float64)

    ann_ids_raw = [a["id"] for a in anns]
    ann_id = _numbers(ann_ids_raw, path, "annotation", ann_ids_raw, "id", np.int64)
    _check_unique(ann_id, path, "annotation")
    ann_image_id = _numbers([a["image_id"] for a in anns], path, "annotation", ann_ids_raw, "image_id", np.int64)
    missing = np.flatnonzero(~np.isin(ann_image_id, image_id))
    if len(missing):
        i = missing[0]
        raise OccbenchError(
            f"refers to image {ann_image_id[i]}, which is not in 'images'",
            file=path,
            record=f"annotation {ann_ids_raw[i]}",
            field="image_id",
        )

    kp_lists = [a["keypoints"] for a in anns]
    lengths = np.fromiter((len(k) if isinstance(k, list) else -1 for k in kp_lists), np.int64, len(anns))
    if expected_joints is None:
        expected_joints = _joints_from_categories(data, path) or (int(lengths[0]) // 3 if len(anns) else 0)
    bad = np.flatnonzero(lengths != 3 * expected_joints)
    if len(bad):
        i = bad[0]
        raise OccbenchError(
            f"has {lengths[i]} values, expected {3 * expected_joints} ({expected_joints} joints x 3)",
            file=path,
            record=f"annotation {ann_ids_raw[i]}",
            field="keypoints",
        )
    keypoints = _numbers(kp_lists, path, "annotation", ann_ids_raw, "keypoints", np.float64)
    keypoints = keypoints.reshape(len(anns), expected_joints, 3)

    bbox_lists = [a["bbox"] for a in anns]
    bad = [i for i, b in enumerate(bbox_lists) if not isinstance(b, list) or len(b) != 4]
    if bad:
        raise OccbenchError(
            "must be a list [x, y, w, h]", file=path, record=f"annotation {ann_ids_raw[bad[0]]}", field="bbox"
        )
    bbox = _numbers(bbox_lists, path, "annotation", ann_ids_raw, "bbox", np.float64).reshape(len(anns), 4)
    neg = np.flatnonzero((bbox[:, 2] < 0) | (bbox[:, 3] < 0))
    if len(neg):
        raise OccbenchError(
            f"negative box size {bbox[neg[0], 2:].tolist()}",
            file=path,
            record=f"annotation {ann_ids_raw[neg[0]]}",
            field="bbox",
        )

    area = _optional_numbers(anns, "area", path, ann_ids_raw, np.nan)
    neg = np.flatnonzero(area < 0)
    if len(neg):
        raise OccbenchError("negative area", file=path, record=f"annotation {ann_ids_raw[neg[0]]}", field="area")
    iscrowd = _optional_numbers(anns, "iscrowd", path, ann_ids_raw, 0).astype(bool)
    num_keypoints = _optional_numbers(anns, "num_keypoints", path, ann_ids_raw, -1).astype(np.int64)
    category_id = _optional_numbers(anns, "category_id", path, ann_ids_raw, 1).astype(np.int64)

    return CocoLikeFile(
        path=path,
        top_level={k: v for k, v in data.items() if k not in ("images", "annotations")},
        image_id=image_id,
        file_name=file_name,
        width=width.astype(np.int64),
        height=height.astype(np.int64),
        crowd_index=crowd_index,
        image_extra=[_extra_json(im, MODELLED_IMAGE_FIELDS) for im in images],
        image_occbench=[im.get("occbench") for im in images],
        ann_id=ann_id,
        ann_image_id=ann_image_id,
        category_id=category_id,
        bbox=bbox,
        area=area,
        iscrowd=iscrowd,
        num_keypoints=num_keypoints,
        keypoints=keypoints,
        ann_extra=[_extra_json(a, MODELLED_ANNOTATION_FIELDS) for a in anns],
        ann_occbench=[a.get("occbench") for a in anns],
    )


def _optional_numbers(
    records: list[dict[str, Any]], key: str, path: Path, ids: list[Any], default: float
) -> np.ndarray:
    """A numeric field that may be absent (``default`` then); present values are checked."""
    present = [i for i, r in enumerate(records) if r.get(key) is not None]
    out = np.full(len(records), default, dtype=np.float64)
    if present:
        values = [records[i][key] for i in present]
        out[present] = _numbers(values, path, "annotation", [ids[i] for i in present], key, np.float64).reshape(-1)
    return out


def _joints_from_categories(data: dict[str, Any], path: Path) -> int | None:
    cats = data.get("categories") or []
    person = [c for c in cats if isinstance(c, dict) and c.get("keypoints")]
    return len(person[0]["keypoints"]) if person else None


def check_image_files(parsed: CocoLikeFile, image_root: Path) -> list[tuple[int, int, int]]:
    """Check every image exists under ``image_root``; return (index, width, height) read from
    the headers of images whose recorded size differs."""
    from PIL import Image, UnidentifiedImageError

    mismatches = []
    pairs = list(zip(parsed.image_id.tolist(), parsed.file_name, strict=True))
    for index, (img_id, name) in enumerate(track(pairs, f"checking images of {parsed.path.name}")):
        file = image_root / name
        if not file.is_file():
            raise OccbenchError(
                f"image file not found: {file}", file=parsed.path, record=f"image {img_id}", field="file_name"
            )
        try:
            with Image.open(file) as im:
                w, h = im.size
        except (UnidentifiedImageError, OSError) as exc:
            raise OccbenchError(
                f"cannot read image header of {file}: {exc}",
                file=parsed.path,
                record=f"image {img_id}",
                field="file_name",
            ) from None
        if (w, h) != (parsed.width[index], parsed.height[index]):
            mismatches.append((index, w, h))
    return mismatches


def to_split_data(
    parsed: CocoLikeFile,
    visibility: np.ndarray,
    area: np.ndarray,
    num_keypoints: np.ndarray,
    *,
    keypoints_xy: np.ndarray | None = None,
    image_columns: dict[str, Any] | None = None,
    instance_columns: dict[str, Any] | None = None,
    keypoints_3d: np.ndarray | None = None,
) -> SplitData:
    """Assemble a unified split from a parsed file and the source's visibility classes.

    Occlusion ratios and the recomputed crowdIndex are derived here, the same way for every
    COCO-style source; ``*_columns`` override or add table columns.
    """
    kpts = parsed.keypoints[..., :2] if keypoints_xy is None else keypoints_xy
    occ, self_occ = occlusion_ratios(visibility)
    recomputed = crowd_index(
        parsed.image_id, parsed.ann_image_id, parsed.bbox, kpts, labelled_mask(visibility), counted=~parsed.iscrowd
    )
    images = make_images_table(
        {
            "image_id": parsed.image_id,
            "file_name": parsed.file_name,
            "width": parsed.width,
            "height": parsed.height,
            "crowd_index": parsed.crowd_index,
            "crowd_index_recomputed": recomputed,
            "extra": parsed.image_extra,
            **(image_columns or {}),
        }
    )
    instances = make_instances_table(
        {
            "instance_id": parsed.ann_id,
            "image_id": parsed.ann_image_id,
            "category_id": parsed.category_id,
            "bbox_x": parsed.bbox[:, 0],
            "bbox_y": parsed.bbox[:, 1],
            "bbox_w": parsed.bbox[:, 2],
            "bbox_h": parsed.bbox[:, 3],
            "area": area,
            "iscrowd": parsed.iscrowd,
            "num_keypoints": num_keypoints,
            "occlusion_ratio": occ,
            "self_occlusion_ratio": self_occ,
            "extra": parsed.ann_extra,
            **(instance_columns or {}),
        }
    )
    return SplitData(
        images, instances, np.ascontiguousarray(kpts, dtype=np.float64), visibility.astype(np.int8), keypoints_3d
    )


def reject_invalid_v(parsed: CocoLikeFile) -> np.ndarray:
    """The v flags of a COCO/CrowdPose file, raising on the first value outside 0..2."""
    v = parsed.keypoints[..., 2]
    bad = np.argwhere(invalid_coco_v(v))
    if len(bad):
        row, joint = bad[0]
        raise OccbenchError(
            f"visibility flag {v[row, joint]:g} of joint {joint} is not 0, 1 or 2",
            file=parsed.path,
            record=f"annotation {parsed.ann_id[row]}",
            field="keypoints",
        )
    return v.astype(np.int64)
