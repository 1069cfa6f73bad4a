"""Box sources: ground truth (official filtering and cleaning), jitter, detection files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from occbench.datasets.format import SplitData, make_images_table, make_instances_table
from occbench.errors import OccbenchError
from occbench.inference.boxes import detection_boxes, gt_boxes, jitter_boxes, load_boxes
from occbench.skeletons import Visibility


def small_split() -> SplitData:
    images = make_images_table(
        {"image_id": [7, 3], "file_name": ["a.jpg", "b.jpg"], "width": [100, 50], "height": [80, 40]}
    )
    instances = make_instances_table(
        {
            "instance_id": [10, 11, 12, 13, 14],
            "image_id": [3, 7, 7, 7, 3],
            "bbox_x": [-4.0, 10, 20, 30, 5],
            "bbox_y": [2.0, 10, 20, 30, 5],
            "bbox_w": [30.0, 40, 40, 40, 10],
            "bbox_h": [60.0, 50, 50, 50, 10],
            "area": [900.0, 2000, 2000, 0, 100],
            "iscrowd": [False, False, True, False, False],
            "num_keypoints": [1, 1, 0, 1, 0],
        }
    )
    vis = np.full((5, 14), Visibility.UNLABELED, dtype=np.int8)
    vis[[0, 1, 2, 3], 0] = Visibility.OCCLUDED
    vis[4, 0] = Visibility.TRUNCATED  # not a labelled joint (COCO v=0)
    return SplitData(images, instances, np.zeros((5, 14, 2)), vis)


def test_gt_boxes_filter_and_clean_like_the_official_loader() -> None:
    boxes = load_boxes("gt", small_split())
    # Crowd (12), zero area (13) and no labelled joint (14) are skipped; images come in table order.
    assert boxes.image_id.tolist() == [7, 3]
    np.testing.assert_allclose(boxes.box, [[10, 10, 39, 49], [0, 2, 29, 37]])  # y2 = min(39, 2 + 59)
    np.testing.assert_array_equal(boxes.score, [1, 1])


def test_jitter_is_seeded_and_independent_of_row_order() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    box = np.column_stack([rng.uniform(0, 100, (n, 2)), rng.uniform(20, 80, (n, 2))])
    ids = rng.permutation(n) + 1000
    base = gt_boxes(small_split())
    base.image_id, base.box, base.score = np.zeros(n, np.int64), box, np.ones(n)
    a = jitter_boxes(base, 0.1, seed=5, instance_id=ids)
    b = jitter_boxes(base, 0.1, seed=5, instance_id=ids)
    np.testing.assert_array_equal(a.box, b.box)
    perm = rng.permutation(n)
    base.box = box[perm]
    c = jitter_boxes(base, 0.1, seed=5, instance_id=ids[perm])
    np.testing.assert_array_equal(c.box, a.box[perm])
    # The documented noise model: relative centre shifts and log-scale with standard deviation σ.
    shift = (a.box[:, :2] + a.box[:, 2:] / 2 - (box[:, :2] + box[:, 2:] / 2)) / box[:, 2:]
    log_scale = np.log(a.box[:, 2:] / box[:, 2:])
    assert abs(shift.std() - 0.1) < 0.005 and abs(log_scale.std() - 0.1) < 0.005
    np.testing.assert_allclose(log_scale[:, 0], log_scale[:, 1])
    base.box = box
    np.testing.assert_allclose(jitter_boxes(base, 0.0, seed=5, instance_id=ids).box, box)
    assert a.metadata["boxes"] == "jitter:0.1" and a.metadata["seed"] == 5


def test_detection_file_threshold_category_and_unknown_images(tmp_path) -> None:
    dets = [
        {"image_id": 3, "category_id": 1, "bbox": [1, 2, 30, 40], "score": 0.9},
        {"image_id": 7, "category_id": 1, "bbox": [5, 5, 10, 20], "score": 0.1},
        {"image_id": 7, "category_id": 2, "bbox": [5, 5, 10, 20], "score": 0.9},
        {"image_id": 99, "category_id": 1, "bbox": [5, 5, 10, 20], "score": 0.9},
        {"image_id": 7, "bbox": [0, 0, 0, 20], "score": 0.9},
        {"image_id": 7, "bbox": [-3.5, 0, 8, 20], "score": 0.5},
    ]
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(dets))
    boxes = load_boxes(str(path), small_split(), score_threshold=0.2)
    assert boxes.image_id.tolist() == [7, 3]  # image order of the split
    np.testing.assert_allclose(boxes.box, [[-3.5, 0, 8, 20], [1, 2, 30, 40]])  # used as they are
    np.testing.assert_allclose(boxes.score, [0.5, 0.9])
    assert any("outside the split" in w for w in boxes.warnings)
    assert boxes.metadata["detections_total"] == 6 and len(boxes.metadata["boxes_sha256"]) == 64


@pytest.mark.parametrize(
    ("records", "record", "field"),
    [
        ([{"image_id": 3, "bbox": [1, 2, 3], "score": 0.5}], 0, "bbox"),
        ([{"image_id": 3, "bbox": [1, 2, 3, 4], "score": 0.5}, {"image_id": 3, "bbox": [1, 2, 3, 4]}], 1, "score"),
        ([{"image_id": "3", "bbox": [1, 2, 3, 4], "score": 0.5}], 0, "image_id"),
        ([{"image_id": 3, "bbox": [1, 2, "x", 4], "score": 0.5}], 0, "bbox"),
    ],
)
def test_bad_detection_records_are_named(tmp_path, records, record, field) -> None:
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(records))
    with pytest.raises(OccbenchError) as err:
        detection_boxes(path, np.array([3, 7]))
    assert err.value.record == record and err.value.field == field and err.value.file == str(path)


def test_detection_file_for_another_dataset_is_an_error(tmp_path) -> None:
    path = tmp_path / "dets.json"
    path.write_text(json.dumps([{"image_id": 1234, "bbox": [1, 2, 3, 4], "score": 0.5}]))
    with pytest.raises(OccbenchError, match="no person detection"):
        load_boxes(str(path), small_split())
    with pytest.raises(OccbenchError, match="jitter:SIGMA"):
        load_boxes("jitter:abc", small_split())
    with pytest.raises(OccbenchError, match="not found"):
        load_boxes(str(tmp_path / "missing.json"), small_split())
