"""Parity with the reference evaluators, every stat within 1e-9 (in practice bit-identical)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from occbench.evaluation import evaluate
from tests.conftest import shared_file
from tests.datasets.helpers import perturbed_detections, write_json
from tests.evaluation.refs import (
    crowdpose_reference,
    pycocotools_stats,
    random_dataset,
    random_detections,
    xtcocotools_stats,
)

TOL = 1e-9


def standard(table) -> np.ndarray:
    std = table[(table["breakdown"] == "standard") & ~table["metric"].str.startswith("num_")]
    return std["value"].to_numpy()


@pytest.mark.parametrize("noise", [1.0, 4.0])
def test_coco_sample_matches_pycocotools(coco_sample_dir, noise) -> None:
    gt_path = coco_sample_dir / "test_coco.json"
    dets = perturbed_detections(json.loads(gt_path.read_text()), seed=int(noise), noise=noise)
    ours = standard(evaluate(gt_path, dets, breakdowns="none"))
    np.testing.assert_allclose(ours, pycocotools_stats(gt_path, dets), rtol=0, atol=TOL)


@pytest.mark.parametrize("seed", range(4))
def test_random_coco_sets_match_pycocotools(tmp_path, seed) -> None:
    gt = random_dataset(seed)
    gt_path = write_json(tmp_path / "gt.json", gt)
    dets = random_detections(gt, seed + 100)
    ours = evaluate(gt_path, dets, breakdowns="none")
    assert ours["protocol"].iloc[0] == "coco"
    np.testing.assert_allclose(standard(ours), pycocotools_stats(gt_path, dets), rtol=0, atol=TOL)


@pytest.mark.parametrize("seed", range(2))
def test_results_with_bbox_take_their_area_from_it(tmp_path, seed) -> None:
    """loadRes takes a keypoint result's area from its bbox when the first result has one, which
    moves the area-range stats (an unmatched detection outside the range is ignored)."""
    gt = random_dataset(seed + 20)
    gt_path = write_json(tmp_path / "gt.json", gt)
    dets = random_detections(gt, seed + 200)
    rng = np.random.default_rng(seed)
    for det in dets:
        det["bbox"] = [float(v) for v in np.round(rng.uniform([0, 0, 10, 10], [500, 400, 200, 300]), 2)]
    ours = evaluate(gt_path, dets, breakdowns="none")
    np.testing.assert_allclose(standard(ours), pycocotools_stats(gt_path, dets), rtol=0, atol=TOL)
    assert ours.attrs["provenance"]["predictions"]["detection_area"] == "bbox"
    without = [{k: v for k, v in d.items() if k != "bbox"} for d in dets]
    assert not np.array_equal(standard(ours), standard(evaluate(gt_path, without, breakdowns="none")))
    # An empty bbox on the first result sends loadRes down the keypoint branch.
    dets[0]["bbox"] = []
    np.testing.assert_allclose(
        standard(evaluate(gt_path, dets, breakdowns="none")), pycocotools_stats(gt_path, dets), rtol=0, atol=TOL
    )


@pytest.mark.parametrize("seed", range(3))
def test_random_crowdpose_sets_match_faster_coco_eval(tmp_path, seed) -> None:
    gt = random_dataset(seed, joints=14, crowdpose=True)
    gt_path = write_json(tmp_path / "crowdpose_test.json", gt)
    dets = random_detections(gt, seed + 7)
    ours = evaluate(gt_path, dets, breakdowns="none")
    assert ours["protocol"].iloc[0] == "crowdpose"
    np.testing.assert_allclose(standard(ours), crowdpose_reference(gt_path, dets), rtol=0, atol=TOL)


def _crowdpose_val_sets(raw):
    base = perturbed_detections(raw, seed=11, noise=5.0)
    ties = copy.deepcopy(base)
    for det in ties:
        det["score"] = round(det["score"], 1)  # many exact score ties across images
    dupes = base + perturbed_detections(raw, seed=12, noise=2.0)[::3]
    sparse = [d for d in base if d["image_id"] % 3 != 0]  # images without any detection
    return {"perturbed": base, "score ties": ties, "duplicates": dupes, "no detections on some images": sparse}


@pytest.mark.slow
def test_crowdpose_val_matches_faster_coco_eval(tmp_path) -> None:
    src = shared_file("crowdpose", "crowdpose_val.json")
    raw = json.loads(src.read_text())
    # Images without ground truth: add a few empty images (with detections on them).
    raw["images"] += [
        {"id": 9_000_000 + i, "file_name": f"x{i}.jpg", "width": 100, "height": 100, "crowdIndex": 0.5}
        for i in range(5)
    ]
    gt_path = write_json(tmp_path / "crowdpose_val.json", raw)
    for name, dets in _crowdpose_val_sets(raw).items():
        dets = dets + [{**dets[0], "image_id": 9_000_000 + i} for i in range(5)]
        ours = standard(evaluate(gt_path, dets, breakdowns="none"))
        np.testing.assert_allclose(ours, crowdpose_reference(gt_path, dets), rtol=0, atol=TOL, err_msg=name)


def _unlabelled_mismatch(gt: dict) -> dict:
    """num_keypoints disagreeing with the joints: 0 on labelled people, >0 on unlabelled ones."""
    for i, ann in enumerate(gt["annotations"]):
        if ann["iscrowd"]:
            continue
        if i % 5 == 0:
            ann["num_keypoints"] = 0
        elif i % 5 == 1:
            ann["keypoints"] = [0] * len(ann["keypoints"])
            ann["num_keypoints"] = 3
    return gt


@pytest.mark.parametrize("crowdpose", [True, False])
def test_xtcocotools_compatibility_option(tmp_path, crowdpose) -> None:
    gt = _unlabelled_mismatch(random_dataset(5, num_images=60, joints=14 if crowdpose else 17, crowdpose=crowdpose))
    gt_path = write_json(tmp_path / ("crowdpose_val.json" if crowdpose else "coco_val.json"), gt)
    dets = random_detections(gt, 55, zero_score_fraction=0.2)
    for det in dets[-10:]:
        det["score"] = 0.0  # a zero instance score plays no part in the rule
    plain = evaluate(gt_path, dets, breakdowns="none")
    compat = evaluate(gt_path, dets, breakdowns="none", xtcocotools_compat=True)
    # Every stat equals xtcocotools' with the option, the reference's without it.
    np.testing.assert_allclose(standard(compat), xtcocotools_stats(gt_path, dets, crowdpose), rtol=0, atol=TOL)
    reference = crowdpose_reference if crowdpose else pycocotools_stats
    np.testing.assert_allclose(standard(plain), reference(gt_path, dets), rtol=0, atol=TOL)
    assert abs(standard(plain)[0] - standard(compat)[0]) > 1e-3
    assert compat.attrs["provenance"]["detections_dropped_by_xtcocotools_rule"] == int(0.2 * len(dets))
    if not crowdpose:
        # The ground-truth rule alone moves the numbers too: no detection dropped, num_gt differs.
        keep_all = [d for d in dets if any(d["keypoints"][2::3])]
        a = evaluate(gt_path, keep_all, breakdowns="none").set_index("metric")["value"]
        b = evaluate(gt_path, keep_all, breakdowns="none", xtcocotools_compat=True).set_index("metric")["value"]
        assert a["num_gt"] != b["num_gt"]
        assert compat.attrs["provenance"]["ground_truth_ignore_rule"] == "labelled"


def test_unified_dataset_equals_its_source_json(tmp_path) -> None:
    from occbench.datasets.crowdpose import convert_crowdpose

    gt = random_dataset(9, joints=14, crowdpose=True)
    gt_path = write_json(tmp_path / "crowdpose_test.json", gt)
    ds = convert_crowdpose([gt_path], tmp_path / "ds")
    dets = random_detections(gt, 90)
    from_dataset = evaluate(ds.root, dets, split="test")
    from_json = evaluate(gt_path, dets)
    np.testing.assert_array_equal(from_dataset["value"].to_numpy(), from_json["value"].to_numpy())
