"""COCO keypoints converter, which also re-imports occbench's own COCO exports without loss.

Plain COCO (17 joints): v=2 -> visible, v=1 -> occluded (COCO does not say by what),
v=0 -> unlabeled; ``area`` is the file's segmentation area (``area_convention``
"annotation"), ``num_keypoints`` is kept as the file has it, and segmentation and other
fields are kept verbatim. COCO publishes no crowdIndex; occbench recomputes one.

A file written by ``occbench export coco`` carries an ``occbench`` block at the top, per image
and per annotation; then the schema, visibility classes (with the true coordinates of
truncated joints), ratios, track ids, MaxIoU, 3D joints and manifest fields are restored
from it instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from occbench.datasets.coco_export import EXPORT_FORMAT
from occbench.datasets.cocolike import (
    CocoLikeFile,
    check_image_files,
    load_json,
    parse_cocolike,
    reject_invalid_v,
    to_split_data,
)
from occbench.datasets.format import SplitData, classes_from_coco_v
from occbench.datasets.store import Dataset, DatasetWriter, converter_provenance
from occbench.errors import OccbenchError
from occbench.skeletons import COCO17, Visibility, get_schema

SOURCE = "coco"


def _split_name_for(path: Path) -> str:
    stem = path.stem
    for prefix in ("person_keypoints_", "crowdpose_"):
        if stem.startswith(prefix):
            return stem[len(prefix) :]
    return stem


def _restore_export(parsed: CocoLikeFile, block: dict[str, Any]) -> SplitData:
    """Rebuild a split exactly from the occbench fields of an occbench export."""
    schema = get_schema(block.get("schema", ""))
    k = schema.num_joints
    n = len(parsed.ann_id)
    blocks = parsed.ann_occbench
    bad = [i for i, b in enumerate(blocks) if not isinstance(b, dict) or "keypoints" not in b]
    if bad:
        raise OccbenchError(
            "occbench export lacks the per-annotation 'occbench' block",
            file=parsed.path,
            record=f"annotation {parsed.ann_id[bad[0]]}",
            field="occbench",
        )

    def column(name: str, default: float) -> np.ndarray:
        return np.asarray([default if b.get(name) is None else b[name] for b in blocks], dtype=np.float64)

    kp_class = np.asarray([b["keypoints"] for b in blocks], dtype=np.float64).reshape(n, k, 3)
    kp3d = None
    if any("keypoints_3d" in b for b in blocks):
        kp3d = np.asarray([b["keypoints_3d"] for b in blocks], dtype=np.float64).reshape(n, k, 3)
    ratios = np.stack([column("occlusion_ratio", np.nan), column("self_occlusion_ratio", np.nan)], axis=1)
    track_id = column("track_id", -1).astype(np.int64)
    max_iou = column("max_iou", np.nan)
    classes = kp_class[..., 2].astype(np.int8)
    if ((classes < 0) | (classes > max(Visibility))).any():
        raise OccbenchError("unknown visibility class", file=parsed.path, field="occbench.keypoints")

    img_blocks = [b if isinstance(b, dict) else {} for b in parsed.image_occbench]
    image_columns = {
        "sequence": [b.get("sequence", "") for b in img_blocks],
        "frame": [b.get("frame", -1) for b in img_blocks],
        "video": [b.get("video", "") for b in img_blocks],
        "video_frame": [b.get("video_frame", -1) for b in img_blocks],
    }
    data = to_split_data(
        parsed,
        classes,
        parsed.area,
        parsed.num_keypoints,
        keypoints_xy=kp_class[..., :2],
        image_columns=image_columns,
        instance_columns={
            "occlusion_ratio": ratios[:, 0],
            "self_occlusion_ratio": ratios[:, 1],
            "track_id": track_id,
            "max_iou": max_iou,
        },
        keypoints_3d=kp3d,
    )
    # The recomputed crowdIndex is restored as exported, not recomputed again.
    data.images["crowd_index_recomputed"] = np.asarray(
        [np.nan if b.get("crowd_index_recomputed") is None else b["crowd_index_recomputed"] for b in img_blocks],
        dtype=np.float64,
    )
    return data


def read_coco(
    path: str | Path, image_root: str | Path | None = None, raw: dict[str, Any] | None = None
) -> tuple[SplitData, dict[str, Any], list[str]]:
    """Parse one COCO keypoint file (or occbench export) into a unified split.

    Returns the split, the dataset-level fields (schema, source, area convention, ...) and
    warnings.
    """
    path = Path(path)
    raw = load_json(path) if raw is None else raw
    block = raw.get("occbench") if isinstance(raw, dict) else None
    is_export = isinstance(block, dict) and block.get("format") == EXPORT_FORMAT
    warnings: list[str] = []
    if is_export:
        schema = get_schema(block.get("schema", ""))
        parsed = parse_cocolike(path, expected_joints=schema.num_joints, data=raw)
        data = _restore_export(parsed, block)
        keep = set(block.get("split_meta_keys", []))
        split_meta = {k: v for k, v in parsed.top_level.items() if k in keep}
        fields = {
            "name": block.get("name", path.stem),
            "source": block.get("source", SOURCE),
            "schema": schema.name,
            "area_convention": block.get("area_convention", "annotation"),
            "camera": block.get("camera"),
            "warnings": list(block.get("warnings", [])),
            "source_meta": dict(block.get("source_meta", {})),
            "split": block.get("split"),
            "split_meta": split_meta,
        }
    else:
        parsed = parse_cocolike(path, expected_joints=COCO17.num_joints, data=raw)
        v = reject_invalid_v(parsed)
        visibility = classes_from_coco_v(v, COCO17.name)
        area = parsed.area
        if np.isnan(area).any():
            missing = int(np.isnan(area).sum())
            warnings.append(f"{path.name}: {missing} annotations lack 'area'; using bbox width * height for them")
            area = np.where(np.isnan(area), parsed.bbox[:, 2] * parsed.bbox[:, 3], area)
        num_keypoints = parsed.num_keypoints
        if (num_keypoints < 0).any():
            num_keypoints = np.where(num_keypoints < 0, (v > 0).sum(axis=1), num_keypoints)
            warnings.append(f"{path.name}: annotations without num_keypoints got the count of joints with v>0")
        data = to_split_data(parsed, visibility, area, num_keypoints)
        fields = {
            "name": "coco",
            "source": SOURCE,
            "schema": COCO17.name,
            "area_convention": "annotation",
            "camera": None,
            "warnings": [],
            "source_meta": {},
            "split": None,
            "split_meta": {k: v for k, v in parsed.top_level.items() if k != "occbench"},
        }
    if image_root is not None:
        mismatches = check_image_files(parsed, Path(image_root))
        for index, w, h in mismatches:
            warnings.append(
                f"{path.name}: image {parsed.image_id[index]}: width/height "
                f"{parsed.width[index]}x{parsed.height[index]} differ from the header {w}x{h}; fixed"
            )
            data.images.loc[index, ["width", "height"]] = [w, h]
    return data, fields, warnings


def convert_coco(
    sources: list[Path],
    out_dir: Path,
    *,
    image_root: Path | None = None,
    split: str | None = None,
    name: str | None = None,
    overwrite: bool = False,
) -> Dataset:
    """Convert COCO keypoint files (one split each) or occbench exports into one dataset."""
    if split is not None and len(sources) != 1:
        raise OccbenchError("--split names the split of a single file; give one file")
    if image_root is not None and not Path(image_root).is_dir():
        raise OccbenchError("image root is not a folder", file=image_root)
    first_fields: dict[str, Any] | None = None
    writer: DatasetWriter | None = None
    warnings: list[str] = []
    splits_meta: dict[str, Any] = {}
    try:
        for src in sources:
            data, fields, file_warnings = read_coco(src, image_root)
            if first_fields is None:
                first_fields = fields
                writer = DatasetWriter(out_dir, fields["schema"], overwrite=overwrite)
            elif fields["schema"] != first_fields["schema"]:
                raise OccbenchError(
                    f"schema {fields['schema']} differs from {first_fields['schema']} of the first file", file=src
                )
            split_name = split or fields["split"] or _split_name_for(Path(src))
            if split_name in splits_meta:
                raise OccbenchError(f"two files map to split {split_name!r}", file=src)
            assert writer is not None
            writer.write_part(split_name, "part-00000", data)
            splits_meta[split_name] = fields["split_meta"]
            warnings += fields["warnings"] + file_warnings
        if writer is None or first_fields is None:
            raise OccbenchError("no input files given")
        return writer.finalize(
            name=name or first_fields["name"],
            source=first_fields["source"],
            area_convention=first_fields["area_convention"],
            image_root=image_root,
            camera=first_fields["camera"],
            provenance=converter_provenance(__name__, sources, {"image_root": image_root, "split": split}),
            warnings=list(dict.fromkeys(warnings)),
            source_meta={
                **first_fields["source_meta"],
                **({"splits": splits_meta} if any(splits_meta.values()) else {}),
            },
        )
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
