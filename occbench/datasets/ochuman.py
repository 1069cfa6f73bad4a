"""OCHuman converter (native ``ochuman.json``) that keeps self- vs others-occlusion and MaxIoU.

Native layout (OCHumanApi): ``keypoint_names``, ``keypoint_visible`` and ``images[]``, each
image with ``image_id, file_name, width, height`` and its own ``annotations[]`` of
``bbox`` (x1, y1, x2, y2), ``keypoints`` (x, y, v per joint in ``keypoint_names`` order, or
null), ``segms`` (outer/inner polygons, or null) and ``max_iou``.

Visibility: 0 missing -> unlabeled, 1 visible -> visible, 2 self_occluded ->
self_occluded, 3 others_occluded -> occluded. (The official COCO export folds 1 and 2 into
v=2 and loses self-occlusion; occbench keeps it.) Joints are matched to COCO-17 *by name*.

The official split is reproduced: the instances with both keypoints and segmentation
(filter ``kpt&segm``), images sorted by id, val = the first 2,500 images and test = the
rest; instances outside the MaxIoU range [0, 1) are dropped as the official export does,
images left without instances are dropped, and ids are renumbered from 1 per split in
that order (``ids="official"``) so results files made against the official COCO export
line up. The native image id is kept in the image's ``extra``. ``area`` is the box area,
as in the official export.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from occbench.datasets.cocolike import load_json
from occbench.datasets.crowding import crowd_index
from occbench.datasets.format import (
    SplitData,
    dump_extra,
    labelled_mask,
    make_images_table,
    make_instances_table,
    occlusion_ratios,
)
from occbench.datasets.store import Dataset, DatasetWriter, converter_provenance
from occbench.datasets.validate import unsafe_relative_path
from occbench.errors import OccbenchError
from occbench.skeletons import COCO17, Visibility

SOURCE = "ochuman"
OFFICIAL_VAL_IMAGES = 2500
NATIVE_VISIBLE_CODES = {"missing": 0, "vis": 1, "self_occluded": 2, "others_occluded": 3}
CLASS_OF_NATIVE = {
    "missing": Visibility.UNLABELED,
    "vis": Visibility.VISIBLE,
    "self_occluded": Visibility.SELF_OCCLUDED,
    "others_occluded": Visibility.OCCLUDED,
}


@dataclass
class _Flat:
    """Instances of the kept images, flattened, in official order."""

    image_index: np.ndarray
    keypoints: np.ndarray  # (N, K_native, 3)
    bbox_xyxy: np.ndarray
    max_iou: np.ndarray
    segms: list[Any]


def _class_lookup(data: dict[str, Any], path: Path) -> np.ndarray:
    codes = data.get("keypoint_visible", NATIVE_VISIBLE_CODES)
    if not isinstance(codes, dict) or set(codes) != set(NATIVE_VISIBLE_CODES):
        raise OccbenchError(
            f"expected codes for {sorted(NATIVE_VISIBLE_CODES)}, got {codes!r}", file=path, field="keypoint_visible"
        )
    lookup = np.full(max(codes.values()) + 1, -1, dtype=np.int8)
    for name, code in codes.items():
        lookup[code] = CLASS_OF_NATIVE[name]
    return lookup


def _joint_order(data: dict[str, Any], path: Path) -> tuple[np.ndarray, int]:
    names = data.get("keypoint_names")
    if not isinstance(names, list):
        raise OccbenchError("missing or not a list", file=path, field="keypoint_names")
    missing = [n for n in COCO17.joint_names if n not in names]
    if missing:
        raise OccbenchError(f"lacks COCO joints {missing}", file=path, field="keypoint_names")
    return np.asarray([names.index(n) for n in COCO17.joint_names]), len(names)


def _select(images: list[dict[str, Any]], path: Path) -> list[dict[str, Any]]:
    """Images with at least one instance that has keypoints and segmentation, sorted by id."""
    for index, im in enumerate(images):
        if not isinstance(im, dict):
            raise OccbenchError("not a JSON object", file=path, record=f"image #{index}")
        for key in ("image_id", "file_name", "width", "height", "annotations"):
            if im.get(key) is None:
                raise OccbenchError("missing", file=path, record=f"image {im.get('image_id', f'#{index}')}", field=key)
    ids = [im["image_id"] for im in images]
    if len(set(ids)) != len(ids):
        seen: set[Any] = set()
        dup = next(i for i in ids if i in seen or seen.add(i))
        raise OccbenchError("duplicate id", file=path, record=f"image {dup}", field="image_id")
    kept = []
    for im in sorted(images, key=lambda im: im["image_id"]):
        anns = [a for a in im["annotations"] if a.get("keypoints") and a.get("segms")]
        if anns:
            kept.append({**im, "annotations": anns})
    return kept


def _flatten(images: list[dict[str, Any]], num_native: int, path: Path) -> _Flat:
    image_index, kps, boxes, ious, segms = [], [], [], [], []
    for i, im in enumerate(images):
        for a in im["annotations"]:
            where = f"image {im['image_id']} annotation #{len(kps)}"
            kp = a["keypoints"]
            if not isinstance(kp, list) or len(kp) != 3 * num_native:
                n = len(kp) if isinstance(kp, list) else type(kp).__name__
                raise OccbenchError(
                    f"has {n} values, expected {3 * num_native}", file=path, record=where, field="keypoints"
                )
            box = a.get("bbox")
            if not isinstance(box, list) or len(box) != 4:
                raise OccbenchError("must be [x1, y1, x2, y2]", file=path, record=where, field="bbox")
            if a.get("max_iou") is None:
                raise OccbenchError("missing", file=path, record=where, field="max_iou")
            image_index.append(i)
            kps.append(kp)
            boxes.append(box)
            ious.append(a["max_iou"])
            segms.append(a.get("segms"))
    try:
        flat = _Flat(
            image_index=np.asarray(image_index, dtype=np.int64),
            keypoints=np.asarray(kps, dtype=np.float64).reshape(len(kps), num_native, 3),
            bbox_xyxy=np.asarray(boxes, dtype=np.float64).reshape(len(boxes), 4),
            max_iou=np.asarray(ious, dtype=np.float64),
            segms=segms,
        )
    except (TypeError, ValueError) as exc:
        raise OccbenchError(f"non-numeric keypoints, bbox or max_iou ({exc})", file=path) from None
    for name, values in (
        ("keypoints", flat.keypoints.reshape(len(kps), -1)),
        ("bbox", flat.bbox_xyxy),
        ("max_iou", flat.max_iou[:, None]),
    ):
        bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
        if len(bad):
            im = images[flat.image_index[bad[0]]]
            raise OccbenchError("NaN or inf value", file=path, record=f"image {im['image_id']}", field=name)
    neg = np.flatnonzero((flat.bbox_xyxy[:, 2] < flat.bbox_xyxy[:, 0]) | (flat.bbox_xyxy[:, 3] < flat.bbox_xyxy[:, 1]))
    if len(neg):
        im = images[flat.image_index[neg[0]]]
        raise OccbenchError(
            f"negative box size {flat.bbox_xyxy[neg[0]].tolist()}",
            file=path,
            record=f"image {im['image_id']}",
            field="bbox",
        )
    return flat


def _build_split(
    images: list[dict[str, Any]], flat: _Flat, order: np.ndarray, lookup: np.ndarray, path: Path
) -> SplitData:
    native_v = flat.keypoints[..., 2].astype(np.int64)
    bad = np.argwhere((native_v < 0) | (native_v >= len(lookup)) | (lookup[np.clip(native_v, 0, len(lookup) - 1)] < 0))
    if len(bad):
        im = images[flat.image_index[bad[0][0]]]
        raise OccbenchError(
            f"unknown visibility code {native_v[tuple(bad[0])]}",
            file=path,
            record=f"image {im['image_id']}",
            field="keypoints",
        )
    visibility = lookup[native_v][:, order]
    keypoints = flat.keypoints[:, order, :2]
    x1, y1, x2, y2 = flat.bbox_xyxy.T
    bbox = np.stack([x1, y1, x2 - x1, y2 - y1], axis=1)
    image_ids = np.arange(1, len(images) + 1, dtype=np.int64)
    inst_image_ids = image_ids[flat.image_index]
    occ, self_occ = occlusion_ratios(visibility)
    n = len(flat.max_iou)
    return SplitData(
        images=make_images_table(
            {
                "image_id": image_ids,
                "file_name": [im["file_name"] for im in images],
                "width": [im["width"] for im in images],
                "height": [im["height"] for im in images],
                "crowd_index_recomputed": crowd_index(
                    image_ids, inst_image_ids, bbox, keypoints, labelled_mask(visibility)
                ),
                "extra": [dump_extra({"ochuman_image_id": im["image_id"]}) for im in images],
            }
        ),
        instances=make_instances_table(
            {
                "instance_id": np.arange(1, n + 1, dtype=np.int64),
                "image_id": inst_image_ids,
                "bbox_x": bbox[:, 0],
                "bbox_y": bbox[:, 1],
                "bbox_w": bbox[:, 2],
                "bbox_h": bbox[:, 3],
                "area": bbox[:, 2] * bbox[:, 3],
                "num_keypoints": (visibility != Visibility.UNLABELED).sum(axis=1),
                "occlusion_ratio": occ,
                "self_occlusion_ratio": self_occ,
                "max_iou": flat.max_iou,
                "extra": [dump_extra({"segms": s}) for s in flat.segms],
            }
        ),
        keypoints=keypoints,
        visibility=visibility,
    )


def read_ochuman(
    path: str | Path,
    *,
    val_images: int = OFFICIAL_VAL_IMAGES,
    iou_range: tuple[float, float] = (0.0, 1.0),
    image_root: str | Path | None = None,
) -> dict[str, SplitData]:
    """Parse native OCHuman into the official val and test splits."""
    path = Path(path)
    data = load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise OccbenchError("expected a JSON object with 'images'", file=path, field="images")
    lookup = _class_lookup(data, path)
    order, num_native = _joint_order(data, path)
    selected = _select(data["images"], path)
    for im in selected:
        if not isinstance(im["file_name"], str) or unsafe_relative_path(im["file_name"]):
            raise OccbenchError(
                f"{im['file_name']!r} must be a relative path inside the image root",
                file=path,
                record=f"image {im['image_id']}",
                field="file_name",
            )
        if image_root is not None and not (Path(image_root) / im["file_name"]).is_file():
            raise OccbenchError(
                f"image file not found under {image_root}",
                file=path,
                record=f"image {im['image_id']}",
                field="file_name",
            )
    splits = {}
    for split, images in (("val", selected[:val_images]), ("test", selected[val_images:])):
        flat = _flatten(images, num_native, path)
        lo, hi = iou_range
        keep = (flat.max_iou >= lo) & (flat.max_iou < hi)
        kept_images = np.unique(flat.image_index[keep])
        remap = np.full(len(images), -1, dtype=np.int64)
        remap[kept_images] = np.arange(len(kept_images))
        flat = _Flat(
            remap[flat.image_index[keep]],
            flat.keypoints[keep],
            flat.bbox_xyxy[keep],
            flat.max_iou[keep],
            [s for s, k in zip(flat.segms, keep, strict=True) if k],
        )
        images = [images[i] for i in kept_images]
        if images:
            splits[split] = _build_split(images, flat, order, lookup, path)
    return splits


def convert_ochuman(
    source: Path,
    out_dir: Path,
    *,
    image_root: Path | None = None,
    val_images: int = OFFICIAL_VAL_IMAGES,
    iou_range: tuple[float, float] = (0.0, 1.0),
    name: str = "ochuman",
    overwrite: bool = False,
) -> Dataset:
    splits = read_ochuman(source, val_images=val_images, iou_range=iou_range, image_root=image_root)
    if not splits:
        raise OccbenchError("no image has an instance with both keypoints and segmentation", file=source)
    writer = DatasetWriter(out_dir, COCO17.name, overwrite=overwrite)
    try:
        for split, data in splits.items():
            writer.write_part(split, "part-00000", data)
        return writer.finalize(
            name=name,
            source=SOURCE,
            area_convention="bbox",
            image_root=image_root,
            provenance=converter_provenance(
                __name__,
                [source],
                {"val_images": val_images, "iou_range": list(iou_range), "image_root": image_root},
            ),
        )
    except BaseException:
        writer.abort()
        raise
