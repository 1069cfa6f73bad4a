"""Evaluation inputs: ground truth and detections as flat arrays in the reference's order.

Ground truth comes from a unified dataset split, or from COCO / CrowdPose keypoint JSON read
the way the reference tools read it:

- COCO: OKS area = the ``area`` field; a ground truth is ignored when ``iscrowd`` or
  ``num_keypoints == 0`` (pycocotools overwrites a file's own ``ignore`` field with
  ``iscrowd``, so that field has no effect, here either);
- CrowdPose: OKS area = bbox w x h x 0.53; ignored when ``iscrowd`` or the file's
  ``num_keypoints == 0``; crowd bands from the images' ``crowdIndex``.

Images are ordered by ascending id and ground truths keep their order within an image (the
file order), exactly as the references iterate them. Detections take their area from the
tight box around all their keypoints (as ``loadRes`` computes it), or, for a results JSON whose
first record has a ``bbox``, from that bbox's w x h (``loadRes`` takes that branch first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from occbench.datasets.format import SplitData, labelled_mask
from occbench.errors import OccbenchError
from occbench.evaluation.core import MAX_DETS, Layout
from occbench.predictions import (
    Predictions,
    check_finite,
    check_image_ids,
    coco_results_to_predictions,
    read_predictions,
)
from occbench.skeletons import JointSchema, get_schema

PROTOCOLS = ("coco", "crowdpose")


@dataclass
class GroundTruth:
    name: str
    split: str
    schema: JointSchema
    default_protocol: str
    image_ids: np.ndarray  # (M,) ascending
    crowd_index: np.ndarray  # (M,) published (NaN where absent)
    crowd_index_recomputed: np.ndarray  # (M,)
    inst_image: np.ndarray  # (N,) image position, instances grouped by image (file order within)
    instance_ids: np.ndarray  # (N,)
    keypoints: np.ndarray  # (N, K, 2)
    visibility: np.ndarray  # (N, K) classes
    area: np.ndarray  # (N,) OKS area
    bbox: np.ndarray  # (N, 4)
    iscrowd: np.ndarray  # (N,) bool
    num_keypoints: np.ndarray  # (N,)
    occlusion_ratio: np.ndarray  # (N,)
    self_occlusion_ratio: np.ndarray  # (N,)
    manifest_hash: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    # "num_keypoints": ignored when the file's num_keypoints == 0 (pycocotools, crowdposetools,
    # faster-coco-eval, and xtcocotools' keypoints_crowd); "labelled": ignored when no joint has
    # v > 0 (xtcocotools' COCO "keypoints" mode, which recounts instead of reading the field).
    ignore_rule: str = "num_keypoints"

    @property
    def labelled(self) -> np.ndarray:
        """(N, K) COCO's v > 0."""
        return labelled_mask(self.visibility)

    @property
    def ignore(self) -> np.ndarray:
        if self.ignore_rule == "labelled":
            return self.iscrowd | ~self.labelled.any(axis=1)
        return self.iscrowd | (self.num_keypoints == 0)

    @property
    def gt_start(self) -> np.ndarray:
        return np.searchsorted(self.inst_image, np.arange(len(self.image_ids)), side="left")

    @property
    def gt_count(self) -> np.ndarray:
        return np.bincount(self.inst_image, minlength=len(self.image_ids))

    def crowd_values(self) -> tuple[np.ndarray, str]:
        """The crowdIndex used for bands: published where the dataset has it, else recomputed."""
        if np.isfinite(self.crowd_index).all() and len(self.crowd_index):
            return self.crowd_index, "published"
        return self.crowd_index_recomputed, "recomputed"

    @classmethod
    def from_split(
        cls, data: SplitData, schema: JointSchema, *, name: str, split: str, protocol: str, manifest_hash: str = ""
    ) -> GroundTruth:
        images = data.images
        order_img = np.argsort(images["image_id"].to_numpy(), kind="stable")
        image_ids = images["image_id"].to_numpy()[order_img]
        pos = np.searchsorted(image_ids, data.instances["image_id"].to_numpy())
        # Instances grouped by image already (what converters write): no reordering copies.
        grouped = bool(np.all(pos[1:] >= pos[:-1]))
        order = slice(None) if grouped else np.argsort(pos, kind="stable")
        inst = data.instances if grouped else data.instances.iloc[order]
        return cls(
            name=name,
            split=split,
            schema=schema,
            default_protocol=protocol,
            image_ids=image_ids,
            crowd_index=images["crowd_index"].to_numpy()[order_img],
            crowd_index_recomputed=images["crowd_index_recomputed"].to_numpy()[order_img],
            inst_image=pos[order],
            instance_ids=inst["instance_id"].to_numpy(),
            keypoints=data.keypoints[order],
            visibility=data.visibility[order],
            area=inst["area"].to_numpy(),
            bbox=inst[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].to_numpy(),
            iscrowd=inst["iscrowd"].to_numpy().astype(bool),
            num_keypoints=inst["num_keypoints"].to_numpy(),
            occlusion_ratio=inst["occlusion_ratio"].to_numpy(),
            self_occlusion_ratio=inst["self_occlusion_ratio"].to_numpy(),
            manifest_hash=manifest_hash,
        )


def default_protocol_for(schema: str, area_convention: str, source: str) -> str:
    if source == "crowdpose" or area_convention == "bbox_x0.53" or schema == "crowdpose14":
        return "crowdpose"
    return "coco"


def load_ground_truth(source: Any, split: str | None = None) -> GroundTruth:
    """Ground truth from a unified dataset (folder or ``Dataset``) + split, or a COCO / CrowdPose JSON."""
    from occbench.datasets.store import Dataset, open_dataset

    if isinstance(source, GroundTruth):
        return source
    if isinstance(source, (str, Path)) and Path(source).is_file():
        return _from_json(Path(source))
    ds = source if isinstance(source, Dataset) else open_dataset(source)
    if split is None:
        if len(ds.splits) != 1:
            raise OccbenchError(f"name a split (--split); this dataset has {', '.join(ds.splits)}", file=ds.root)
        split = ds.splits[0]
    m = ds.manifest
    return GroundTruth.from_split(
        ds.read_split(split, with_3d=False),  # evaluation never reads the 3D joints
        ds.schema,
        name=m.name,
        split=split,
        protocol=default_protocol_for(m.schema, m.area_convention, m.source),
        manifest_hash=ds.manifest_hash,
    )


def _from_json(path: Path) -> GroundTruth:
    from occbench.datasets.coco import read_coco
    from occbench.datasets.cocolike import load_json
    from occbench.datasets.crowdpose import read_crowdpose
    from occbench.fileio import sha256_file

    raw = load_json(path)
    cats = (raw.get("categories") or [{}]) if isinstance(raw, dict) else [{}]
    num_joints = len(cats[0].get("keypoints", []))
    is_crowdpose = num_joints == 14 or any("crowdIndex" in im for im in raw.get("images", [])[:1])
    if is_crowdpose and not isinstance(raw.get("occbench"), dict):
        data, _, _ = read_crowdpose(path, data=raw, keep_extra=False)
        schema, protocol = get_schema("crowdpose14"), "crowdpose"
    else:
        data, fields, _ = read_coco(path, raw=raw)
        schema = get_schema(fields["schema"])
        protocol = default_protocol_for(fields["schema"], fields["area_convention"], fields["source"])
    return GroundTruth.from_split(
        data, schema, name=path.stem, split=path.stem, protocol=protocol, manifest_hash=sha256_file(path)
    )


@dataclass
class Detections:
    """Kept detections (score order per image, cut to maxDets) and the layout against the ground truth."""

    source_index: np.ndarray  # (Dk,) row in the original predictions
    image: np.ndarray  # (Dk,) image position
    keypoints: np.ndarray  # (Dk, K, 3)
    score: np.ndarray  # (Dk,)
    area: np.ndarray  # (Dk,) tight box around all keypoints
    layout: Layout
    dropped: int = 0  # detections removed by the xtcocotools-compatibility rule
    cache: dict[str, Any] = field(default_factory=dict)  # pairs, OKS terms: shared by every pass


def load_predictions(source: Any, num_joints: int) -> Predictions:
    if isinstance(source, Predictions):
        return source
    if isinstance(source, list):
        return coco_results_to_predictions(source, num_joints)
    return read_predictions(source, num_joints)


def check_predictions(preds: Predictions, num_joints: int, image_ids: np.ndarray, source: object) -> None:
    """The predictions fit a ground truth with ``num_joints`` joints and ``image_ids`` (ascending):
    else an error naming the file and, where it is one record's fault, the record."""
    if not len(preds):
        return
    if preds.num_joints != num_joints:
        raise OccbenchError(
            f"predictions have {preds.num_joints} joints, the ground truth {num_joints}", file=source, field="keypoints"
        )
    check_image_ids(preds.image_id, image_ids, source)
    check_finite(preds, source)


def prepare_detections(
    gt: GroundTruth, preds: Predictions, *, xtcocotools_compat: bool = False, source: object = "predictions"
) -> Detections:
    """Check predictions against the ground truth and order them as the reference does."""
    check_predictions(preds, gt.schema.num_joints, gt.image_ids, source)
    keep = np.ones(len(preds), dtype=bool)
    dropped = 0
    if xtcocotools_compat and len(preds):
        # xtcocotools skips every detection without a keypoint score above 0; the instance score
        # plays no part (a detection scored 0 with joint scores stays).
        keep = (preds.keypoints[..., 2] > 0).any(axis=1)
        dropped = int((~keep).sum())
    idx = np.flatnonzero(keep)
    image = np.searchsorted(gt.image_ids, preds.image_id[idx])
    order = np.lexsort((-preds.score[idx], image))  # stable: ties keep the file order
    idx, image = idx[order], image[order]
    first = np.searchsorted(image, image, side="left")
    rank = np.arange(len(image)) - first
    kept = rank < MAX_DETS
    idx, image = idx[kept], image[kept]
    kp = preds.keypoints[idx]
    x, y = kp[..., 0], kp[..., 1]
    area = (x.max(1) - x.min(1)) * (y.max(1) - y.min(1)) if len(idx) else np.zeros(0)
    if preds.metadata.get("detection_area") == "bbox":
        # Results JSON whose first record has a bbox: loadRes takes every area from bbox w x h.
        area = preds.box[idx, 2] * preds.box[idx, 3]
    m = len(gt.image_ids)
    det_count = np.bincount(image, minlength=m)
    layout = Layout(m, gt.gt_start, gt.gt_count, np.searchsorted(image, np.arange(m), side="left"), det_count)
    return Detections(idx, image, kp, preds.score[idx], area, layout, dropped)
