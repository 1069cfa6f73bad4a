"""Breakdowns on hand-built scenes with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from occbench.datasets.format import SplitData, make_images_table, make_instances_table, occlusion_ratios
from occbench.evaluation import evaluate
from occbench.evaluation.inputs import GroundTruth
from occbench.predictions import Predictions
from occbench.skeletons import CROWDPOSE14, Visibility

V = Visibility
K = 14


def person(cx: float, cy: float, scale: float = 1.0) -> np.ndarray:
    """A CrowdPose-ordered stick figure (14, 2) centred at (cx, cy)."""
    offsets = np.array(
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
    return np.array([cx, cy]) + offsets * scale


def ground_truth(
    people: list[np.ndarray], visibility: list[np.ndarray], image_of: list[int] | None = None
) -> GroundTruth:
    n = len(people)
    image_of = image_of or [1] * n
    kp = np.stack(people)
    vis = np.stack(visibility).astype(np.int8)
    box_min, box_max = kp.min(1), kp.max(1)
    occ, self_occ = occlusion_ratios(vis)
    data = SplitData(
        images=make_images_table(
            {
                "image_id": sorted(set(image_of)),
                "file_name": [f"{i}.jpg" for i in sorted(set(image_of))],
                "width": 640,
                "height": 480,
                "crowd_index": 0.5,
                "crowd_index_recomputed": 0.5,
            }
        ),
        instances=make_instances_table(
            {
                "instance_id": np.arange(1, n + 1),
                "image_id": image_of,
                "bbox_x": box_min[:, 0],
                "bbox_y": box_min[:, 1],
                "bbox_w": (box_max - box_min)[:, 0],
                "bbox_h": (box_max - box_min)[:, 1],
                "area": np.prod(box_max - box_min, 1) * 0.53,
                "num_keypoints": (vis[:, :12] != V.UNLABELED).sum(1),
                "occlusion_ratio": occ,
                "self_occlusion_ratio": self_occ,
            }
        ),
        keypoints=kp,
        visibility=vis,
    )
    return GroundTruth.from_split(data, CROWDPOSE14, name="hand", split="test", protocol="crowdpose")


def predictions(points: list[np.ndarray], scores: list[float]) -> Predictions:
    kp = np.stack([np.column_stack([p, np.ones(K)]) for p in points])
    return Predictions(np.ones(len(points), dtype=int), kp, np.asarray(scores))


# The reference's precision is tp / (fp + tp + eps): one perfect detection gives 1 - 2.2e-16.
ONE = pytest.approx(1.0, abs=1e-12)


def rows(table: pd.DataFrame, breakdown: str, subset: str | None = None) -> pd.Series:
    part = table[table["breakdown"] == breakdown]
    if subset is not None:
        part = part[part["subset"] == subset]
    return part.set_index("metric")["value"]


ALL_VISIBLE = np.full(K, V.VISIBLE)


def test_a_swap_is_a_swap_and_an_inversion_an_inversion() -> None:
    a, b = person(150, 200), person(450, 200)
    gt = ground_truth([a, b], [ALL_VISIBLE, ALL_VISIBLE])
    pred_a = a.copy()
    pred_a[4] = b[4]  # A's left wrist lands on B's left wrist: a swap
    pred_b = b.copy()
    pred_b[[2, 3]] = b[[3, 2]]  # B's elbows exchanged: two inversions
    table = evaluate(gt, predictions([pred_a, pred_b], [0.9, 0.8]), breakdowns="errors")
    errors = rows(table, "errors", "all")
    total = 2 * K
    assert errors["count"] == total
    assert errors["swap"] == pytest.approx(1 / total)
    assert errors["inversion"] == pytest.approx(2 / total)
    assert errors["good"] == pytest.approx((total - 3) / total)
    oracle = table[table["breakdown"] == "oracle"].set_index(["subset", "metric"])["value"]
    assert oracle[("swap", "AP_gain")] >= 0 and oracle[("inversion", "AP_gain")] >= 0
    assert oracle[("jitter", "AP_gain")] == 0


def test_occluded_only_subset_ignores_visible_joints() -> None:
    a = person(300, 200)
    vis = ALL_VISIBLE.copy()
    vis[[6, 7, 8, 9, 10, 11]] = V.OCCLUDED  # the legs are occluded
    gt = ground_truth([a], [vis])
    pred = a.copy()
    pred[:6] += 400  # visible upper body way off; occluded legs exact
    table = evaluate(gt, predictions([pred], [0.9]), breakdowns="keypoint_subset")
    assert rows(table, "keypoint_subset", "occluded")["AP"] == ONE
    assert rows(table, "keypoint_subset", "visible")["AP"] == 0.0


def test_occlusion_band_conventions() -> None:
    light, heavy = person(150, 200), person(450, 200)
    heavy_vis = ALL_VISIBLE.copy()
    heavy_vis[:10] = V.OCCLUDED  # ratio 10/14 > 0.5
    gt = ground_truth([light, heavy], [ALL_VISIBLE, heavy_vis])
    near_heavy = heavy + 14.0  # overlaps the heavy person (0 < OKS < 0.5): unmatched
    table = evaluate(gt, predictions([light, heavy, near_heavy], [0.9, 0.5, 0.95]), breakdowns="occlusion")
    analyze_none = rows(table, "occlusion:coco-analyze", "none")
    assigned_none = rows(table, "occlusion:assigned", "none")
    assert analyze_none["num_gt"] == 1 and rows(table, "occlusion:coco-analyze", "heavy")["num_gt"] == 1
    # coco-analyze: the stray detection (highest score) is a false positive in the 'none' band too.
    assert analyze_none["AP"] < 1.0
    # assigned: it overlaps only the heavy person, so it is charged to 'heavy' alone.
    assert assigned_none["AP"] == ONE
    assert rows(table, "occlusion:assigned", "heavy")["AP"] < 1.0
    assert rows(table, "occlusion:coco-analyze", "partial")["AP"] == -1  # no ground truth in the band


def test_joint_visibility_accuracy_per_class() -> None:
    a = person(300, 200)
    vis = ALL_VISIBLE.copy()
    vis[4] = V.OCCLUDED
    gt = ground_truth([a], [vis])
    pred = a.copy()
    pred[4] += 60.0  # only the occluded left wrist is off
    table = evaluate(gt, predictions([pred], [0.9]), breakdowns="joint_visibility")
    jv = table[table["breakdown"] == "joint_visibility"].set_index(["subset", "metric"])["value"]
    assert jv[("left_wrist/occluded", "ks_accuracy")] == 0.0 and jv[("left_wrist/occluded", "count")] == 1
    assert jv[("right_wrist/visible", "ks_mean")] == ONE


def test_oracle_gain_equals_a_full_re_evaluation() -> None:
    rng = np.random.default_rng(3)
    people = [person(100 + 110 * i, 200 + 10 * i, 0.8) for i in range(5)]
    gt = ground_truth(people, [ALL_VISIBLE] * 5)
    preds = [p + rng.normal(0, 4, p.shape) for p in people]
    preds[1][5] = people[2][5]  # a swap
    table = evaluate(gt, predictions(preds, [0.9, 0.8, 0.7, 0.6, 0.5]), breakdowns="errors")
    # Correcting the jitter by hand: every joint with 0.5 <= ks < 0.85 moved to its ground truth.
    from occbench.evaluation.breakdowns import classify_errors
    from occbench.evaluation.inputs import prepare_detections
    from occbench.evaluation.protocols import oks_for

    dets = prepare_detections(gt, predictions(preds, [0.9, 0.8, 0.7, 0.6, 0.5]))
    det_idx, gt_idx, classes = classify_errors(gt, dets, oks_for(gt, dets))
    fixed = dets.keypoints.copy()
    r, j = np.nonzero(classes == 1)
    fixed[det_idx[r], j, :2] = gt.keypoints[gt_idx[r], j]
    manual = evaluate(gt, Predictions(np.ones(5, int), fixed, dets.score), breakdowns="none")
    oracle = table[table["breakdown"] == "oracle"].set_index(["subset", "metric"])["value"]
    assert oracle[("jitter", "AP")] == rows(manual, "standard")["AP"]


def test_crowding_bands_and_empty_band() -> None:
    people = [person(150, 200), person(450, 200)]
    gt = ground_truth(people, [ALL_VISIBLE, ALL_VISIBLE])
    table = evaluate(gt, predictions(people, [0.9, 0.8]), breakdowns="crowding")
    bands = table[table["breakdown"] == "crowd_index:published"].set_index(["subset", "metric"])["value"]
    assert bands[("medium", "AP")] == ONE and bands[("medium", "num_images")] == 1
    assert bands[("easy", "AP")] == -1 and bands[("hard", "AP")] == -1
