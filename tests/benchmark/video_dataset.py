"""A small video dataset on disk (one crowdpose14 sequence with JPEG frames) and predictions for it.

Three people walk left to right for 8 frames. At frame 4 the ground-truth persons 1 and 2 trade
places (a teleport), while the predictions stay where they were: the linker keeps following the
places, so both ground-truth tracks switch predicted track there (2 people x 14 joints). The
predictions are exact except person 3: 20 px off in frame 5 and missing in frame 6, so frame 6
holds the worst case (best OKS 0) and frame 5 the second worst.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from occbench.datasets.store import Dataset, write_dataset
from occbench.predictions import Predictions, write_predictions
from tests.tracking.helpers import detections, image_id, scene

FRAMES = 8
SWAP_AT = 4
WORST_FRAME, SECOND_FRAME = 6, 5
SPEC = """
name = "trk"

[[models]]
name = "given"
predictions = "preds.parquet"

[[datasets]]
name = "vid"
dir = "ds"
split = "test"

[[protocols]]
name = "gt"
boxes = "gt"

[evaluation]
track = true
"""


def _people(f: int, swapped: bool) -> list[tuple[int, float, float]]:
    a, b = (150.0 + 6 * f, 320.0 + 6 * f)
    if swapped and f >= SWAP_AT:
        a, b = b, a
    return [(1, a, 200.0), (2, b, 200.0), (3, 480.0 + 4 * f, 300.0)]


def make_video_dataset(root: Path) -> tuple[Dataset, Predictions]:
    gt_frames = [_people(f, swapped=True) for f in range(FRAMES)]
    data = scene(gt_frames, occluded={(f, 3): 10 for f in range(FRAMES)})
    images = root / "images"
    rng = np.random.default_rng(0)
    for f in range(FRAMES):
        path = images / f"s1/{f}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(40, 90, (480, 640, 3), dtype=np.uint8)).save(path)
    ds = write_dataset(
        root / "ds", "crowdpose14", {"test": data}, name="vid", source="test", area_convention="bbox", image_root=images
    )
    pred_frames = [_people(f, swapped=False) for f in range(FRAMES)]
    pred_frames[SECOND_FRAME] = [(t, x + 20 if t == 3 else x, y) for t, x, y in pred_frames[SECOND_FRAME]]
    pred_frames[WORST_FRAME] = [p for p in pred_frames[WORST_FRAME] if p[0] != 3]
    preds = detections(pred_frames, track_ids=False)
    write_predictions(root / "preds.parquet", preds)
    (root / "spec.toml").write_text(SPEC)
    return ds, preds


WORST_IMAGE_ID = image_id(1, WORST_FRAME)
SECOND_IMAGE_ID = image_id(1, SECOND_FRAME)
