"""Hand-built video scenes for the tracking tests: CrowdPose-ordered stick figures on frames."""

from __future__ import annotations

import numpy as np

from occbench.datasets.format import SplitData, make_images_table, make_instances_table, occlusion_ratios
from occbench.predictions import Predictions
from occbench.skeletons import Visibility
from tests.evaluation.refs import stick_figure

K = 14
# The evaluation tests' stick figure: |head - neck| = 25 px, so head size = 0.6 * sqrt(2) * 25
# = 21.21 px and joints match within 10.61 px.
HEAD_SIZE = 0.6 * np.sqrt(2) * 25


def pose(cx: float, cy: float) -> np.ndarray:
    return stick_figure(cx, cy)


def image_id(sequence: int, frame: int) -> int:
    return 1000 * sequence + frame


def scene(
    frames: list[list[tuple[int, float, float]]],
    sequence: int = 1,
    occluded: dict[tuple[int, int], int] | None = None,
    crowd_index: list[float] | None = None,
    size: tuple[int, int] = (640, 480),
) -> SplitData:
    """frames[f] = [(track_id, cx, cy), ...]; occluded[(frame, track)] = number of occluded joints."""
    occluded = occluded or {}
    img, tracks, kps, vis = [], [], [], []
    for f, people in enumerate(frames):
        for track, cx, cy in people:
            img.append(image_id(sequence, f))
            tracks.append(track)
            kps.append(pose(cx, cy))
            v = np.full(K, Visibility.VISIBLE, np.int8)
            v[: occluded.get((f, track), 0)] = Visibility.OCCLUDED
            vis.append(v)
    kp = np.array(kps).reshape(-1, K, 2)
    v = np.array(vis, dtype=np.int8).reshape(-1, K)
    lo, hi = (kp.min(1), kp.max(1)) if len(kp) else (np.zeros((0, 2)), np.zeros((0, 2)))
    occ, self_occ = occlusion_ratios(v)
    n_frames = len(frames)
    return SplitData(
        images=make_images_table(
            {
                "image_id": [image_id(sequence, f) for f in range(n_frames)],
                "file_name": [f"s{sequence}/{f}.jpg" for f in range(n_frames)],
                "width": size[0],
                "height": size[1],
                "crowd_index_recomputed": crowd_index if crowd_index is not None else 0.0,
                "sequence": f"seq_{sequence}",
                "frame": np.arange(1, n_frames + 1),
                "video_frame": np.arange(n_frames),
            }
        ),
        instances=make_instances_table(
            {
                "instance_id": np.arange(len(img)) + 1 + 100_000 * sequence,
                "image_id": img,
                "bbox_x": lo[:, 0],
                "bbox_y": lo[:, 1],
                "bbox_w": (hi - lo)[:, 0],
                "bbox_h": (hi - lo)[:, 1],
                "area": np.prod(hi - lo, 1),
                "num_keypoints": np.full(len(img), K),
                "occlusion_ratio": occ,
                "self_occlusion_ratio": self_occ,
                "track_id": tracks,
            }
        ),
        keypoints=kp,
        visibility=v,
    )


def detections(
    frames: list[list[tuple[int, float, float]]],
    sequence: int = 1,
    score: float | list[list[float]] = 0.99,
    track_ids: bool = True,
) -> Predictions:
    """Predictions at the given poses; the first tuple element becomes the track id (or -1)."""
    img, kps, scores, tracks, boxes = [], [], [], [], []
    for f, people in enumerate(frames):
        for i, (track, cx, cy) in enumerate(people):
            img.append(image_id(sequence, f))
            p = pose(cx, cy)
            kps.append(np.c_[p, np.full(K, 0.9)])
            scores.append(score if np.isscalar(score) else score[f][i])
            tracks.append(track if track_ids else -1)
            lo, hi = p.min(0), p.max(0)
            boxes.append([*lo, *(hi - lo)])
    return Predictions(
        image_id=np.array(img, np.int64),
        keypoints=np.array(kps).reshape(-1, K, 3),
        score=np.array(scores, float),
        box=np.array(boxes).reshape(-1, 4),
        track_id=np.array(tracks, np.int64),
    )


def walk(track: int, x0: float, dx: float, n: int, y: float = 200.0) -> list[tuple[int, float, float]]:
    return [(track, x0 + dx * f, y) for f in range(n)]


def by_frame(*paths: list[tuple[int, float, float]]) -> list[list[tuple[int, float, float]]]:
    """Transpose per-person paths (None entries = absent) into per-frame lists."""
    n = max(len(p) for p in paths)
    return [[p[f] for p in paths if f < len(p) and p[f] is not None] for f in range(n)]
