"""Linking: give each predicted person a track id, frame to frame (Detect-and-Track style).

Girdhar et al. (CVPR 2018) link the persons of frame t-1 and frame t with the Hungarian
algorithm (``scipy.optimize.linear_sum_assignment``) on cost = 1 - box IoU, and start a new
track for every detection left unmatched. Their tracking code (``tracking_engine.py``):

- drops detections scoring below ``CONF_FILTER_INITIAL_DETS`` before linking: 0.9 in the
  code's default, 0.95 in the released best configs (``DETECT_AND_TRACK`` uses 0.95);
- clips each box to the image ([0, width] x [0, height]) and drops it if the clipped area
  (x2 - x1) * (y2 - y1) is below 50 px²; the clipped boxes are the ones linked;
- consults only the previous frame: a person missing for one frame, or an empty frame,
  ends every track, and a later detection starts a new one;
- accepts every pair the assignment makes (no cost threshold).

occbench adds an optional pose cost (1 - OKS) and an optional ``max_cost`` above which an
assigned pair is not linked. IoU is computed on continuous boxes (Detectron's
pixel-inclusive "+1" is not applied: occbench boxes are continuous xywh). A prediction
without a box (NaN) is linked with the tight box around its keypoints.

The output is deterministic and independent of the input row order: detections are put in
a canonical order (frame, then score descending, then box and keypoints), new track ids
are handed out in that order, sequences in sorted name order, and ids are unique across
the whole file. Filtered detections are not in the output; their count is in the metadata.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from occbench.errors import OccbenchError
from occbench.predictions import Predictions, check_image_ids
from occbench.tracking.frames import FrameIndex, build_frame_index

COSTS = ("iou", "oks")
# Cost given to pairs above ``max_cost`` so the assignment prefers any allowed pair.
_FORBIDDEN = 1e6


@dataclass(frozen=True)
class LinkConfig:
    """How detections are filtered and linked; see the module docstring."""

    cost: str = "iou"  # iou: 1 - box IoU (Detect-and-Track); oks: 1 - OKS between the two poses
    max_cost: float | None = None  # None: accept every assigned pair (Detect-and-Track)
    min_score: float | None = 0.95  # instance score >= this; None: no score filter
    min_area: float | None = 50.0  # box area in px² (after clipping) >= this; None: no area filter
    clip_to_image: bool = True  # clip boxes to the image before the area filter and linking

    def __post_init__(self) -> None:
        if self.cost not in COSTS:
            raise OccbenchError(f"unknown linking cost {self.cost!r}; choose {', '.join(COSTS)}", field="--cost")


DETECT_AND_TRACK = LinkConfig()
UNFILTERED = LinkConfig(min_score=None, min_area=None, clip_to_image=False)
PRESETS: dict[str, LinkConfig] = {"detect-and-track": DETECT_AND_TRACK, "unfiltered": UNFILTERED}


@dataclass
class LinkResult:
    predictions: Predictions  # kept detections, sorted by (sequence, frame, track id)
    num_input: int
    num_filtered: int
    num_tracks: int
    seconds: float


def boxes_xyxy(preds: Predictions) -> np.ndarray:
    """(N, 4) x1, y1, x2, y2: the prediction's box, or the tight box around its keypoints if unknown."""
    box = preds.box.copy()
    unknown = ~np.isfinite(box).all(axis=1)
    if unknown.any():
        kp = preds.keypoints[unknown, :, :2]
        lo, hi = kp.min(axis=1), kp.max(axis=1)
        box[unknown] = np.concatenate([lo, hi - lo], axis=1)
    return np.concatenate([box[:, :2], box[:, :2] + box[:, 2:]], axis=1)


def pair_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes a[i] and b[i] (x1, y1, x2, y2), row by row."""
    w = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    h = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = w * h
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a + area_b - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def pair_oks(kp_a: np.ndarray, kp_b: np.ndarray, area: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """OKS between poses a[i] and b[i] over the joints both score above 0 (0 if none)."""
    d2 = ((kp_a[..., :2] - kp_b[..., :2]) ** 2).sum(-1)
    variances = (2 * sigmas) ** 2
    e = d2 / variances / (np.maximum(area, np.spacing(1))[:, None]) / 2
    valid = (kp_a[..., 2] > 0) & (kp_b[..., 2] > 0)
    n = valid.sum(1)
    total = (np.exp(-e) * valid).sum(1)
    return np.where(n > 0, total / np.maximum(n, 1), 0.0)


def _canonical_order(pos: np.ndarray, preds: Predictions, box: np.ndarray) -> np.ndarray:
    """Frame, then score descending, then box and keypoints: a total order on distinct rows."""
    kp = preds.keypoints.reshape(len(preds), -1)
    keys = [kp[:, j] for j in range(kp.shape[1] - 1, -1, -1)]
    keys += [box[:, j] for j in range(3, -1, -1)]
    keys += [-preds.score, pos]
    return np.lexsort(keys)


def link(
    preds: Predictions,
    frames: FrameIndex,
    config: LinkConfig = DETECT_AND_TRACK,
    *,
    sigmas: Any = None,
    source: object = "predictions",
) -> LinkResult:
    """Link ``preds`` across consecutive frames of ``frames``; see the module docstring."""
    started = time.perf_counter()
    n_in = len(preds)
    pos = frames.positions(preds.image_id, source=source) if n_in else np.zeros(0, np.int64)
    box = boxes_xyxy(preds) if n_in else np.zeros((0, 4))
    if config.clip_to_image and n_in:
        w, h = frames.width[pos], frames.height[pos]
        if not (np.isfinite(w).all() and np.isfinite(h).all()):
            raise OccbenchError("image size unknown; cannot clip boxes", file=frames.source, field="width/height")
        box = np.stack(
            [np.clip(box[:, 0], 0, w), np.clip(box[:, 1], 0, h), np.clip(box[:, 2], 0, w), np.clip(box[:, 3], 0, h)],
            axis=1,
        )
    area = (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])
    keep = np.ones(n_in, dtype=bool)
    if config.min_score is not None:
        keep &= preds.score >= config.min_score
    if config.min_area is not None:
        keep &= area >= config.min_area
    idx = np.flatnonzero(keep)
    order = idx[_canonical_order(pos[idx], preds.select(idx), box[idx])]
    pos_k, box_k, area_k = pos[order], box[order], area[order]
    kp_k = preds.keypoints[order]

    n_frames = len(frames)
    counts = np.bincount(pos_k, minlength=n_frames)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    # All (previous, current) pairs of consecutive frames at once, previous-major per frame.
    has_prev = ~frames.first_of_sequence
    n_prev = np.where(has_prev, np.concatenate([[0], counts[:-1]]), 0)
    n_pairs = n_prev * counts
    pair_start = np.concatenate([[0], np.cumsum(n_pairs)[:-1]])
    f_of_pair = np.repeat(np.arange(n_frames), n_pairs)
    local = np.arange(n_pairs.sum()) - pair_start[f_of_pair]
    prev_det = starts[f_of_pair - 1] + local // np.maximum(counts[f_of_pair], 1) if len(f_of_pair) else local
    cur_det = starts[f_of_pair] + local % np.maximum(counts[f_of_pair], 1) if len(f_of_pair) else local
    if config.cost == "iou":
        cost = 1.0 - pair_iou(box_k[prev_det], box_k[cur_det])
    else:
        if sigmas is None:
            raise OccbenchError("the oks cost needs the joint schema's sigmas", field="--cost")
        mean_area = (area_k[prev_det] + area_k[cur_det]) / 2
        cost = 1.0 - pair_oks(kp_k[prev_det], kp_k[cur_det], mean_area, np.asarray(sigmas, np.float64))
    if config.max_cost is not None:
        allowed = cost <= config.max_cost
        cost = np.where(allowed, cost, _FORBIDDEN)

    track = np.full(len(order), -1, dtype=np.int64)
    next_id = 0
    # The assignment of frame t needs the track ids of frame t-1: a loop over frames, not persons.
    for f in np.flatnonzero(counts):
        s, c = starts[f], counts[f]
        if n_pairs[f]:
            matrix = cost[pair_start[f] : pair_start[f] + n_pairs[f]].reshape(n_prev[f], c)
            rows, cols = linear_sum_assignment(matrix)
            ok = matrix[rows, cols] < _FORBIDDEN
            track[s + cols[ok]] = track[starts[f - 1] + rows[ok]]
        new = np.flatnonzero(track[s : s + c] < 0)
        track[s + new] = next_id + np.arange(len(new))
        next_id += len(new)

    final = np.lexsort((track, pos_k))
    out = preds.select(order[final])
    out.track_id = track[final]
    out.metadata = {
        **preds.metadata,
        "tracking": {
            **asdict(config),
            "num_input": n_in,
            "num_filtered": int(n_in - len(order)),
            "num_tracks": int(next_id),
        },
    }
    return LinkResult(out, n_in, int(n_in - len(order)), int(next_id), time.perf_counter() - started)


def track_predictions(
    predictions: Any,
    dataset: Any,
    split: str | None,
    out: str | Path,
    config: LinkConfig = DETECT_AND_TRACK,
) -> LinkResult:
    """The ``track`` verb: read predictions and a dataset split, link, write a predictions Parquet."""
    from occbench.datasets.store import Dataset, open_dataset
    from occbench.evaluation.inputs import load_predictions
    from occbench.predictions import write_predictions

    ds = dataset if isinstance(dataset, Dataset) else open_dataset(dataset)
    if split is None:
        if len(ds.splits) != 1:
            raise OccbenchError(f"name a split (--split); this dataset has {', '.join(ds.splits)}", file=ds.root)
        split = ds.splits[0]
    images = ds.read_images(split)
    source = predictions if isinstance(predictions, (str, Path)) else "predictions"
    preds = load_predictions(predictions, ds.schema.num_joints)
    if len(preds) and preds.num_joints != ds.schema.num_joints:
        raise OccbenchError(
            f"predictions have {preds.num_joints} joints, the dataset {ds.schema.num_joints}", file=source
        )
    check_image_ids(preds.image_id, images["image_id"].to_numpy(), source)
    frames = build_frame_index(images, source=f"{ds.root} split {split}")
    result = link(preds, frames, config, sigmas=ds.schema.sigmas, source=source)
    result.predictions.metadata["tracking"].update({"dataset": ds.manifest.name, "split": split})
    write_predictions(out, result.predictions)
    return result
