"""Properties: invariance to ids and input order; perfect predictions give AP = 1."""

from __future__ import annotations

import copy

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from occbench.evaluation import evaluate
from tests.datasets.helpers import write_json
from tests.evaluation.refs import random_dataset, random_detections

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def values(table):
    return table.sort_values(["breakdown", "subset", "metric"])["value"].to_numpy()


@SETTINGS
@given(seed=st.integers(0, 10_000), crowdpose=st.booleans(), offset=st.integers(1, 10**6))
def test_relabelling_ids_changes_nothing(tmp_path_factory, seed, crowdpose, offset) -> None:
    tmp = tmp_path_factory.mktemp("ids")
    gt = random_dataset(seed, num_images=15, joints=14 if crowdpose else 17, crowdpose=crowdpose)
    dets = random_detections(gt, seed + 1)
    rng = np.random.default_rng(seed)
    new_ids = {
        im["id"]: int(v) for im, v in zip(gt["images"], rng.permutation(len(gt["images"])) * 13 + offset, strict=True)
    }
    relabelled = copy.deepcopy(gt)
    for im in relabelled["images"]:
        im["id"] = new_ids[im["id"]]
    for i, ann in enumerate(relabelled["annotations"]):
        ann["image_id"] = new_ids[ann["image_id"]]
        ann["id"] = 10_000 + (i * 7919) % 100_003
    moved = [{**d, "image_id": new_ids[d["image_id"]]} for d in dets]
    a = evaluate(write_json(tmp / "a.json", gt), dets, breakdowns="all")
    b = evaluate(write_json(tmp / "b.json", relabelled), moved, breakdowns="all")
    # The crowd sweep/bands can re-order image subsets but not change numbers.
    np.testing.assert_array_equal(values(a), values(b))


@SETTINGS
@given(seed=st.integers(0, 10_000))
def test_detection_and_image_order_changes_nothing(tmp_path_factory, seed) -> None:
    tmp = tmp_path_factory.mktemp("order")
    gt = random_dataset(seed, num_images=15)
    dets = random_detections(gt, seed + 2)
    for i, det in enumerate(dets):
        det["score"] = (i + 1) / (len(dets) + 1)  # distinct scores
    rng = np.random.default_rng(seed)
    shuffled_gt = copy.deepcopy(gt)
    shuffled_gt["images"] = [gt["images"][i] for i in rng.permutation(len(gt["images"]))]
    shuffled_dets = [dets[i] for i in rng.permutation(len(dets))]
    a = evaluate(write_json(tmp / "a.json", gt), dets)
    b = evaluate(write_json(tmp / "b.json", shuffled_gt), shuffled_dets)
    np.testing.assert_array_equal(values(a), values(b))


@SETTINGS
@given(seed=st.integers(0, 10_000), crowdpose=st.booleans())
def test_perfect_predictions_score_one(tmp_path_factory, seed, crowdpose) -> None:
    tmp = tmp_path_factory.mktemp("perfect")
    gt = random_dataset(seed, num_images=12, joints=14 if crowdpose else 17, crowdpose=crowdpose)
    dets = []
    for ann in gt["annotations"]:
        if ann["iscrowd"] or ann["num_keypoints"] == 0:
            continue
        kp = np.asarray(ann["keypoints"], float).reshape(-1, 3)
        kp[:, 2] = 1.0
        dets.append({"image_id": ann["image_id"], "category_id": 1, "keypoints": kp.ravel().tolist(), "score": 0.9})
    table = evaluate(write_json(tmp / "gt.json", gt), dets, breakdowns="none")
    std = table.set_index("metric")["value"]
    if std["num_gt"] > 0:
        assert std["AP"] == 1.0 and std["AR"] == 1.0 and std["AP50"] == 1.0
