"""Person boxes for the top-down pipeline: ground truth, detections, or jittered ground truth.

``--boxes`` takes one of:

- ``gt``: the ground-truth boxes, as the official code uses them: crowd regions and persons
  without a labelled joint or with area ≤ 0 are skipped, and each box is cleaned (clipped
  to the image, inclusive pixel convention; see ``geometry.clean_gt_boxes``). Score 1.
- ``jitter:SIGMA``: the cleaned ground-truth boxes with seeded noise, for the box-robustness
  protocol. Per box, with centre ``c``, size ``(w, h)`` and ``εx, εy, εs ~ N(0, 1)``::

      c' = c + SIGMA · (w · εx, h · εy)        translation, relative to the box size
      (w', h') = (w, h) · exp(SIGMA · εs)       one log-normal scale factor for both sides

  The noise is drawn with ``numpy.random.default_rng(seed)`` in ascending ``instance_id``
  order, so it depends only on the seed and the dataset, not on row order or batching.
- any other value: a COCO detection-results file (a JSON list of ``{image_id, bbox, score,
  category_id}``). Records whose ``category_id`` is present and not 1 are skipped, and so
  are boxes scoring below the threshold (official ``image_thre``, default 0) or with a
  non-positive width or height. Boxes are used as they are (no cleaning), as officially.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from occbench.datasets.format import SplitData, labelled_mask
from occbench.errors import OccbenchError
from occbench.fileio import sha256_file
from occbench.inference.geometry import clean_gt_boxes

BOXES_HELP = "gt | jitter:SIGMA (seeded ground-truth noise) | PATH to a COCO detection-results JSON"
_JITTER = re.compile(r"^jitter:(?P<sigma>\d+(\.\d+)?)$")


@dataclass
class BoxSet:
    """The persons to run the model on, in the order the images come."""

    image_id: np.ndarray  # (N,) int64
    box: np.ndarray  # (N, 4) float64 xywh
    score: np.ndarray  # (N,) float64
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.image_id)


def gt_boxes(data: SplitData) -> BoxSet:
    """Ground-truth boxes of the persons the official code would crop."""
    inst = data.instances
    sizes = data.images.set_index("image_id")[["width", "height"]].reindex(inst["image_id"])
    raw = inst[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].to_numpy(np.float64)
    cleaned, valid = clean_gt_boxes(raw, sizes["width"].to_numpy(np.float64), sizes["height"].to_numpy(np.float64))
    keep = (
        valid
        & ~inst["iscrowd"].to_numpy(bool)
        & (inst["area"].to_numpy(np.float64) > 0)
        & labelled_mask(data.visibility).any(axis=1)
    )
    order = np.flatnonzero(keep)
    return BoxSet(
        image_id=inst["image_id"].to_numpy(np.int64)[order],
        box=cleaned[order],
        score=np.ones(len(order)),
        metadata={"boxes": "gt", "instance_id": inst["instance_id"].to_numpy(np.int64)[order]},
    )


def jitter_boxes(boxes: BoxSet, sigma: float, seed: int, instance_id: np.ndarray) -> BoxSet:
    """Boxes with seeded translation and scale noise (see the module docstring)."""
    rank = np.argsort(np.argsort(instance_id, kind="stable"), kind="stable")
    noise = np.random.default_rng(seed).standard_normal((len(rank), 3))[rank]
    x, y, w, h = boxes.box.T
    cx = x + w / 2 + sigma * w * noise[:, 0]
    cy = y + h / 2 + sigma * h * noise[:, 1]
    factor = np.exp(sigma * noise[:, 2])
    w2, h2 = w * factor, h * factor
    jittered = np.stack([cx - w2 / 2, cy - h2 / 2, w2, h2], axis=1)
    meta = {**boxes.metadata, "boxes": f"jitter:{sigma:g}", "jitter_sigma": sigma, "seed": seed}
    return BoxSet(boxes.image_id, jittered, boxes.score.copy(), meta, list(boxes.warnings))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_record(rec: Any, index: int, path: Path) -> None:
    if not isinstance(rec, dict):
        raise OccbenchError("detection is not a JSON object", file=path, record=index)
    for key in ("image_id", "bbox", "score"):
        if key not in rec:
            raise OccbenchError("missing", file=path, record=index, field=key)
    if not isinstance(rec["image_id"], int) or isinstance(rec["image_id"], bool):
        raise OccbenchError("not an integer", file=path, record=index, field="image_id")
    bbox = rec["bbox"]
    if not isinstance(bbox, list) or len(bbox) != 4 or not all(_number(v) for v in bbox):
        raise OccbenchError("must be 4 finite numbers [x, y, w, h]", file=path, record=index, field="bbox")
    if not _number(rec["score"]):
        raise OccbenchError("not a finite number", file=path, record=index, field="score")


def detection_boxes(path: str | Path, known_image_ids: np.ndarray, score_threshold: float = 0.0) -> BoxSet:
    """Person boxes from a COCO detection-results file, checked record by record."""
    path = Path(path)
    if not path.is_file():
        raise OccbenchError("detections file not found (--boxes takes gt, jitter:SIGMA or a file)", file=path)
    try:
        records = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise OccbenchError(f"malformed JSON: {exc}", file=path) from None
    if not isinstance(records, list):
        raise OccbenchError("expected a JSON list of detections", file=path)
    for index, rec in enumerate(records):
        _check_record(rec, index, path)
    n = len(records)
    image_id = np.fromiter((r["image_id"] for r in records), np.int64, n)
    box = np.asarray([r["bbox"] for r in records], dtype=np.float64).reshape(n, 4)
    score = np.fromiter((r["score"] for r in records), np.float64, n)
    person = np.fromiter((r.get("category_id", 1) == 1 for r in records), bool, n)
    known = np.isin(image_id, known_image_ids)
    sized = (box[:, 2] > 0) & (box[:, 3] > 0)
    keep = person & known & sized & (score >= score_threshold)
    warnings = []
    if n and not (known & person).any():
        raise OccbenchError("no person detection refers to an image of this split", file=path, field="image_id")
    if (~known).any():
        first = int(np.flatnonzero(~known)[0])
        warnings.append(
            f"{path.name}: {int((~known).sum())} detections refer to images outside the split "
            f"(first: record {first}, image_id {int(image_id[first])}); skipped"
        )
    if (~sized & person & known).any():
        warnings.append(f"{path.name}: {int((~sized & person & known).sum())} boxes with zero width/height skipped")
    meta = {
        "boxes": str(path),
        "boxes_sha256": sha256_file(path),
        "score_threshold": score_threshold,
        "detections_total": n,
        "detections_used": int(keep.sum()),
    }
    return BoxSet(image_id[keep], box[keep], score[keep], meta, warnings)


def load_boxes(spec: str, data: SplitData, score_threshold: float = 0.0, seed: int = 0) -> BoxSet:
    """Resolve a ``--boxes`` value for a split (see the module docstring)."""
    if spec == "gt":
        boxes = gt_boxes(data)
    elif match := _JITTER.match(spec):
        gt = gt_boxes(data)
        boxes = jitter_boxes(gt, float(match["sigma"]), seed, gt.metadata["instance_id"])
    elif spec.startswith("jitter"):
        raise OccbenchError(f"bad noise level {spec!r}; write jitter:SIGMA, e.g. jitter:0.1", field="--boxes")
    else:
        boxes = detection_boxes(spec, data.images["image_id"].to_numpy(np.int64), score_threshold)
    boxes.metadata.pop("instance_id", None)
    return order_by_images(boxes, data.images)


def order_by_images(boxes: BoxSet, images: pd.DataFrame) -> BoxSet:
    """Sort persons by their image's row in ``images`` (stable: a file's own order within an image)."""
    position = pd.Series(np.arange(len(images)), index=images["image_id"].to_numpy(np.int64))
    order = np.argsort(position.reindex(boxes.image_id).to_numpy(), kind="stable")
    return BoxSet(boxes.image_id[order], boxes.box[order], boxes.score[order], boxes.metadata, boxes.warnings)
