"""Export a unified split to COCO keypoint JSON that pycocotools loads, keeping occbench's fields.

What a COCO tool sees is the standard format: keypoints as (x, y, v) with visible -> 2;
occluded, self-occluded and labelled-unknown -> 1; truncated and unlabeled -> (0, 0, 0);
``area`` is the OKS area of the dataset's convention (CrowdPose: bbox * 0.53), and
``crowdIndex`` is the published value where there is one.

What occbench adds, so ``occbench convert coco`` restores the split without loss:

- top level ``occbench``: name, source, schema, area convention, camera, warnings, split;
- per image ``occbench``: recomputed crowdIndex, sequence, frame, video, video frame;
- per annotation ``occbench``: keypoints with the visibility *class* (x, y, class per joint,
  true coordinates kept for truncated joints), occlusion ratios, track id, MaxIoU, 3D joints.

Source fields occbench does not model (COCO segmentation, licence ids, ...) are written
back verbatim.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from occbench.datasets.format import FORMAT_VERSION
from occbench.datasets.store import Dataset
from occbench.fileio import write_text_atomic

EXPORT_FORMAT = "occbench-coco-export"


def _none_if_nan(values: np.ndarray) -> list[float | None]:
    return [None if math.isnan(v) else v for v in values.tolist()]


def _merge_extra(record: dict[str, Any], extra: str) -> dict[str, Any]:
    if extra:
        for key, value in json.loads(extra).items():
            record.setdefault(key, value)
    return record


def _categories(ds: Dataset, split: str) -> list[dict[str, Any]]:
    meta = ds.manifest.source_meta.get("splits", {}).get(split, {})
    if meta.get("categories"):
        return meta["categories"]
    schema = ds.schema
    return [
        {
            "supercategory": "person",
            "id": 1,
            "name": "person",
            "keypoints": list(schema.joint_names),
            "skeleton": schema.skeleton_one_based(),
        }
    ]


def export_coco_dict(ds: Dataset, split: str) -> dict[str, Any]:
    data = ds.read_split(split)
    images, inst = data.images, data.instances
    m = ds.manifest

    img_records = []
    for row, crowd, recomputed in zip(
        images[
            ["image_id", "file_name", "width", "height", "sequence", "frame", "video", "video_frame", "extra"]
        ].itertuples(index=False),
        _none_if_nan(images["crowd_index"].to_numpy()),
        _none_if_nan(images["crowd_index_recomputed"].to_numpy()),
        strict=True,
    ):
        rec: dict[str, Any] = {"id": row.image_id, "file_name": row.file_name, "width": row.width, "height": row.height}
        if crowd is not None:
            rec["crowdIndex"] = crowd
        _merge_extra(rec, row.extra)
        rec["occbench"] = {
            "crowd_index_recomputed": recomputed,
            "sequence": row.sequence,
            "frame": row.frame,
            "video": row.video,
            "video_frame": row.video_frame,
        }
        img_records.append(rec)

    n = len(inst)
    coco_kp = data.coco_keypoints().reshape(n, -1).tolist()
    class_kp = np.concatenate([data.keypoints, data.visibility[..., None].astype(np.float64)], axis=-1)
    class_kp = class_kp.reshape(n, -1).tolist()
    kp3d = data.keypoints_3d.reshape(n, -1).tolist() if data.keypoints_3d is not None else [None] * n
    boxes = inst[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].to_numpy().tolist()
    occ = _none_if_nan(inst["occlusion_ratio"].to_numpy())
    self_occ = _none_if_nan(inst["self_occlusion_ratio"].to_numpy())
    max_iou = _none_if_nan(inst["max_iou"].to_numpy())
    cols = inst[["instance_id", "image_id", "category_id", "area", "iscrowd", "num_keypoints", "track_id", "extra"]]
    ann_records = []
    for i, row in enumerate(cols.itertuples(index=False)):
        rec = {
            "id": row.instance_id,
            "image_id": row.image_id,
            "category_id": row.category_id,
            "bbox": boxes[i],
            "area": row.area,
            "iscrowd": int(row.iscrowd),
            "num_keypoints": row.num_keypoints,
            "keypoints": coco_kp[i],
        }
        _merge_extra(rec, row.extra)
        block: dict[str, Any] = {
            "keypoints": class_kp[i],
            "occlusion_ratio": occ[i],
            "self_occlusion_ratio": self_occ[i],
            "track_id": row.track_id,
            "max_iou": max_iou[i],
        }
        if kp3d[i] is not None:
            block["keypoints_3d"] = kp3d[i]
        rec["occbench"] = block
        ann_records.append(rec)

    split_meta = m.source_meta.get("splits", {}).get(split, {})
    out: dict[str, Any] = {k: v for k, v in split_meta.items() if k != "categories"}
    out.update(
        {
            "images": img_records,
            "annotations": ann_records,
            "categories": _categories(ds, split),
            "occbench": {
                "format": EXPORT_FORMAT,
                "format_version": FORMAT_VERSION,
                "name": m.name,
                "source": m.source,
                "schema": m.schema,
                "area_convention": m.area_convention,
                "split": split,
                "camera": m.camera,
                "warnings": m.warnings,
                "source_meta": {k: v for k, v in m.source_meta.items() if k != "splits"},
                "split_meta_keys": sorted(split_meta),
                "manifest_content_hash": m.content_hash,
            },
        }
    )
    return out


def export_coco(ds: Dataset, split: str, out_file: str | Path) -> Path:
    """Write the split as COCO keypoint JSON (atomically) and return the path."""
    out_file = Path(out_file)
    payload = export_coco_dict(ds, split)
    write_text_atomic(out_file, json.dumps(payload, separators=(",", ":"), allow_nan=False, default=_json_default))
    return out_file


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__}")
