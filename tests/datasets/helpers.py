"""Helpers for dataset tests: small native files and table comparison."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from occbench.datasets.format import SplitData


def write_json(path: Path, obj: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def assert_splits_equal(a: SplitData, b: SplitData) -> None:
    pd.testing.assert_frame_equal(a.images, b.images)
    pd.testing.assert_frame_equal(a.instances, b.instances)
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    np.testing.assert_array_equal(a.visibility, b.visibility)
    if a.keypoints_3d is None:
        assert b.keypoints_3d is None
    else:
        np.testing.assert_array_equal(a.keypoints_3d, b.keypoints_3d)


def perturbed_detections(gt: dict[str, Any], seed: int = 0, noise: float = 4.0) -> list[dict[str, Any]]:
    """Detections made from the ground truth: jittered joints, random scores, some false positives."""
    rng = np.random.default_rng(seed)
    dets = []
    for ann in gt["annotations"]:
        if ann.get("iscrowd"):
            continue
        kp = np.asarray(ann["keypoints"], dtype=float).reshape(-1, 3)
        if (kp[:, 2] == 0).all():
            continue
        xy = kp[:, :2] + rng.normal(0, noise, size=kp[:, :2].shape)
        scores = rng.uniform(0.1, 1.0, size=len(kp))
        dets.append(
            {
                "image_id": ann["image_id"],
                "category_id": 1,
                "keypoints": np.column_stack([xy, scores]).ravel().round(3).tolist(),
                "score": float(rng.uniform(0.2, 1.0)),
            }
        )
    # False positives: detections of one image moved to another image.
    images = [im["id"] for im in gt["images"]]
    for det in list(dets[: len(dets) // 10]):
        dets.append({**det, "image_id": int(rng.choice(images)), "score": float(rng.uniform(0, 0.5))})
    return dets
