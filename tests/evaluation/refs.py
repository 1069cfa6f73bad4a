"""Generated keypoint datasets and the reference evaluators, for parity tests."""

from __future__ import annotations

import contextlib
import copy
import io
from pathlib import Path
from typing import Any

import numpy as np

from occbench.skeletons import COCO17, CROWDPOSE14

# A CrowdPose-ordered stick figure; head (12) at -100 and neck (13) at -75 px from the centre.
STICK_FIGURE = np.array(
    [
        [-20, -60],
        [20, -60],
        [-28, -30],
        [28, -30],
        [-32, 0],
        [32, 0],
        [-14, 0],
        [14, 0],
        [-15, 40],
        [15, 40],
        [-16, 80],
        [16, 80],
        [0, -100],
        [0, -75],
    ],
    dtype=float,
)


def stick_figure(cx: float, cy: float, scale: float = 1.0) -> np.ndarray:
    """``STICK_FIGURE`` (14, 2) centred at (cx, cy)."""
    return np.array([cx, cy]) + STICK_FIGURE * scale


def random_dataset(seed: int, num_images: int = 40, joints: int = 17, crowdpose: bool = False) -> dict[str, Any]:
    """A COCO-style keypoint ground truth with crowd regions, unlabelled people and empty images."""
    rng = np.random.default_rng(seed)
    ids = rng.permutation(np.arange(1, num_images + 1) * 7 + 3)  # ids are not 0 and not in file order
    images, anns = [], []
    ann_id = 1
    for img_id in ids:
        image = {"id": int(img_id), "file_name": f"{img_id}.jpg", "width": 640, "height": 480}
        if crowdpose:
            image["crowdIndex"] = float(np.round(rng.uniform(0, 1.4), 2))
        images.append(image)
        for _ in range(int(rng.integers(0, 7))):
            cx, cy = rng.uniform(60, 580), rng.uniform(60, 420)
            w, h = rng.uniform(20, 160), rng.uniform(40, 260)
            xy = np.column_stack(
                [rng.uniform(cx - w / 2, cx + w / 2, joints), rng.uniform(cy - h / 2, cy + h / 2, joints)]
            )
            v = rng.choice([0, 1, 2], size=joints, p=[0.25, 0.3, 0.45])
            if crowdpose:
                v[12:] = np.minimum(v[12:], 1)
            kp = np.column_stack([np.where(v[:, None] > 0, np.round(xy, 1), 0), v]).ravel()
            crowd = int(rng.uniform() < 0.06)
            nk = int((v[:12] > 0).sum()) if crowdpose else int((v > 0).sum())
            ann = {
                "id": ann_id,
                "image_id": int(img_id),
                "category_id": 1,
                "iscrowd": crowd,
                "bbox": [round(cx - w / 2, 2), round(cy - h / 2, 2), round(w, 2), round(h, 2)],
                "keypoints": kp.tolist(),
                "num_keypoints": 0 if crowd else nk,
            }
            if not crowdpose:
                ann["area"] = float(np.round(w * h * rng.uniform(0.4, 0.9), 2))
            anns.append(ann)
            ann_id += 1
    schema = CROWDPOSE14 if crowdpose else COCO17
    return {
        "images": images,
        "annotations": anns,
        "categories": [{"id": 1, "name": "person", "keypoints": list(schema.joint_names)}],
    }


def random_detections(
    gt: dict[str, Any], seed: int, noise: float = 6.0, zero_score_fraction: float = 0.0
) -> list[dict[str, Any]]:
    """Perturbed ground truths, duplicates, false positives, tied scores and detections on empty images."""
    rng = np.random.default_rng(seed)
    k = len(gt["categories"][0]["keypoints"])
    dets = []
    for ann in gt["annotations"]:
        kp = np.asarray(ann["keypoints"], float).reshape(-1, 3)
        for _ in range(int(rng.integers(0, 3))):  # 0 = missed, 2 = a duplicate
            xy = kp[:, :2] + rng.normal(0, noise * rng.uniform(0.2, 3), (k, 2))
            dets.append(_det(ann["image_id"], xy, float(np.round(rng.uniform(), 1)), rng))
    for image in gt["images"]:
        for _ in range(int(rng.integers(0, 3))):  # false positives, also on images without people
            xy = rng.uniform(0, 600, (k, 2))
            dets.append(_det(image["id"], xy, float(np.round(rng.uniform(), 2)), rng))
    order = rng.permutation(len(dets))
    dets = [dets[i] for i in order]
    for det in dets[: int(zero_score_fraction * len(dets))]:
        det["keypoints"][2::3] = [0.0] * k
    return dets


def _det(image_id: int, xy: np.ndarray, score: float, rng: np.random.Generator) -> dict[str, Any]:
    keypoints = np.column_stack([xy, rng.uniform(0, 1, len(xy))]).round(2).ravel().tolist()
    return {"image_id": image_id, "category_id": 1, "score": score, "keypoints": keypoints}


def pycocotools_stats(gt_path: Path, dets: list[dict[str, Any]]) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        ev = COCOeval(gt, gt.loadRes(copy.deepcopy(dets)), "keypoints")  # loadRes mutates its input
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


def crowdpose_reference(gt_path: Path, dets: list[dict[str, Any]]) -> np.ndarray:
    """faster-coco-eval ``keypoints_crowd``: its own 9 stats, band APs rounded by its ``get_type_result``."""
    from faster_coco_eval import COCO, COCOeval_faster

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        ev = COCOeval_faster(
            gt,
            gt.loadRes(copy.deepcopy(dets)),
            iouType="keypoints_crowd",
            kpt_oks_sigmas=list(CROWDPOSE14.sigmas),
            use_area=False,
            print_function=lambda *a, **k: None,
        )
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)[:9]


def xtcocotools_stats(gt_path: Path, dets: list[dict[str, Any]], crowdpose: bool) -> np.ndarray:
    """xtcocotools: ``keypoints_crowd`` with the CrowdPose sigmas and bbox-based area (9 stats), or
    its COCO ``keypoints`` mode with its default COCO sigmas (10 stats)."""
    from xtcocotools.coco import COCO
    from xtcocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        res = gt.loadRes(copy.deepcopy(dets))
        if crowdpose:
            ev = COCOeval(gt, res, "keypoints_crowd", np.asarray(CROWDPOSE14.sigmas), use_area=False)
        else:
            ev = COCOeval(gt, res, "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)
