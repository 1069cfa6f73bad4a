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
from tests.evaluation.refs import stick_figure as person

V = Visibility
K = 14


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


def _ks(point: np.ndarray, target: np.ndarray, joint: int, area: float) -> float:
    """Keypoint similarity by hand: exp(-d² / (2σ)² / (area + eps) / 2)."""
    sigma = CROWDPOSE14.sigmas[joint]
    d2 = float(((point - target) ** 2).sum())
    return float(np.exp(-d2 / (2 * sigma) ** 2 / (area + np.spacing(1)) / 2))


def _offset_for(ks: float, joint: int, area: float) -> float:
    """The distance at which a joint scores ``ks``."""
    return float(np.sqrt(-np.log(ks) * 2 * area * (2 * CROWDPOSE14.sigmas[joint]) ** 2))


def test_corrections_land_at_the_fourth_root_of_c() -> None:
    from occbench.evaluation.breakdowns import classify_errors, corrected_keypoints
    from occbench.evaluation.inputs import prepare_detections
    from occbench.evaluation.protocols import oks_for

    a, b = person(150, 200), person(450, 200, 1.2)
    gt = ground_truth([a, b], [ALL_VISIBLE, ALL_VISIBLE])
    area_a, area_b = gt.area
    pred = a.copy()
    pred[0, 0] += _offset_for(0.7, 0, area_a)  # jitter, ks 0.7
    pred[12, 1] -= _offset_for(0.2, 12, area_a)  # head: a miss, ks 0.2
    pred[2] = a[3] + [0, _offset_for(0.6, 3, area_a)]  # left shoulder on the right one: inversion, ks 0.6
    pred[4] = b[4] + [0, _offset_for(0.55, 4, area_b)]  # left wrist on B's: swap, ks 0.55 (B's scale)
    dets = prepare_detections(gt, predictions([pred, b], [0.9, 0.8]))
    errors = classify_errors(gt, dets, oks_for(gt, dets))
    row = int(np.flatnonzero(errors.det_idx == 0)[0])
    assert errors.classes[row, [0, 12, 2, 4]].tolist() == [1, 4, 2, 3]
    assert errors.ks_wrong[row, 2] == pytest.approx(0.6, abs=1e-12)
    assert errors.ks_wrong[row, 4] == pytest.approx(0.55, abs=1e-12)
    fixed = corrected_keypoints(gt, dets, errors, ("jitter", "inversion", "swap", "miss"))[0, :, :2]
    for joint, c in ((0, 0.85), (12, 0.5), (2, 0.6), (4, 0.55)):
        sigma = CROWDPOSE14.sigmas[joint]
        expected_x = a[joint, 0] + np.sqrt(-np.log(c) * 2 * area_a * sigma**2)
        assert fixed[joint].tolist() == pytest.approx([expected_x, a[joint, 1]], abs=1e-9)
        assert _ks(fixed[joint], a[joint], joint, area_a) == pytest.approx(c**0.25, abs=1e-12)
    # Good joints and B's detection stay where they were.
    np.testing.assert_array_equal(fixed[[1, 3, 5, 6]], pred[[1, 3, 5, 6]])
    only_jitter = corrected_keypoints(gt, dets, errors, ("jitter",))[0, :, :2]
    np.testing.assert_array_equal(only_jitter[[12, 2, 4]], pred[[12, 2, 4]])


@pytest.mark.parametrize("seed", [3, 4])
def test_oracle_ap_equals_a_full_re_evaluation(tmp_path, seed) -> None:
    from occbench.evaluation.breakdowns import ORACLE_SUBSETS, classify_errors, corrected_keypoints
    from occbench.evaluation.inputs import load_ground_truth, prepare_detections
    from occbench.evaluation.protocols import oks_for
    from occbench.predictions import coco_results_to_predictions
    from tests.datasets.helpers import write_json
    from tests.evaluation.refs import random_dataset, random_detections

    raw = random_dataset(seed, num_images=30, joints=14, crowdpose=True)
    gt_path = write_json(tmp_path / "crowdpose_test.json", raw)
    results = random_detections(raw, seed, noise=9.0)
    table = evaluate(gt_path, results, breakdowns="errors")
    oracle = table[table["breakdown"] == "oracle"].set_index(["subset", "metric"])["value"]
    assert set(oracle.index.get_level_values(0)) == set(ORACLE_SUBSETS)
    gt = load_ground_truth(gt_path)
    dets = prepare_detections(gt, coco_results_to_predictions(results, 14))
    errors = classify_errors(gt, dets, oks_for(gt, dets))
    assert {1, 2, 3, 4} <= set(np.unique(errors.classes).tolist())  # every class occurs
    base = rows(table, "standard")["AP"]
    for subset, fix in ORACLE_SUBSETS.items():
        fixed = corrected_keypoints(gt, dets, errors, fix)
        manual = rows(
            evaluate(gt, Predictions(gt.image_ids[dets.image], fixed, dets.score), breakdowns="none"), "standard"
        )
        for metric in ("AP", "AP50", "AP75"):
            assert oracle[(subset, metric)] == manual[metric], (subset, metric)
        assert oracle[(subset, "AP_gain")] == manual["AP"] - base
    assert oracle[("all", "AP")] > max(oracle[(s, "AP")] for s in ("jitter", "inversion", "swap", "miss"))


def test_crowding_bands_and_empty_band() -> None:
    people = [person(150, 200), person(450, 200)]
    gt = ground_truth(people, [ALL_VISIBLE, ALL_VISIBLE])
    table = evaluate(gt, predictions(people, [0.9, 0.8]), breakdowns="crowding")
    bands = table[table["breakdown"] == "crowd_index:published"].set_index(["subset", "metric"])["value"]
    assert bands[("medium", "AP")] == ONE and bands[("medium", "num_images")] == 1
    assert bands[("easy", "AP")] == -1 and bands[("hard", "AP")] == -1
