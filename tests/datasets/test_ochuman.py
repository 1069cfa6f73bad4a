"""OCHuman: native layout written by the test, official split, visibility and MaxIoU kept."""

from __future__ import annotations

import json

import numpy as np
import pytest

from occbench.datasets.coco import convert_coco
from occbench.datasets.coco_export import export_coco
from occbench.datasets.ochuman import convert_ochuman
from occbench.errors import OccbenchError
from occbench.skeletons import COCO17, Visibility
from tests.datasets.helpers import assert_splits_equal, write_json

# The native file names its joints; here in reversed COCO order plus two extra joints.
NATIVE_NAMES = ["head_top", *reversed(COCO17.joint_names), "neck"]


def native_keypoints(rng, codes):
    kp = np.zeros((len(NATIVE_NAMES), 3))
    kp[:, :2] = rng.uniform(10, 300, (len(NATIVE_NAMES), 2))
    kp[:, 2] = codes
    return kp.ravel().tolist()


def ochuman_file(tmp_path, n_images=5, seed=0):
    rng = np.random.default_rng(seed)
    images = []
    for img_id in rng.permutation(np.arange(100, 100 + n_images)):
        anns = []
        for j in range(3):
            codes = rng.integers(0, 4, len(NATIVE_NAMES))
            anns.append(
                {
                    "bbox": [10.0 + j, 20.0, 110.0 + j, 220.0],
                    "keypoints": native_keypoints(rng, codes),
                    "segms": {"outer": [[1, 2, 3, 4, 5, 6]], "inner": []},
                    "max_iou": [0.55, 0.8, 1.0][j],
                }
            )
        anns.append({"bbox": [0, 0, 5, 5], "keypoints": None, "segms": None, "max_iou": 0.6})  # no keypoints
        images.append(
            {
                "image_id": int(img_id),
                "file_name": f"{img_id:06d}.jpg",
                "width": 640,
                "height": 480,
                "annotations": anns,
            }
        )
    return write_json(
        tmp_path / "ochuman.json",
        {
            "keypoint_names": NATIVE_NAMES,
            "keypoint_visible": {"missing": 0, "vis": 1, "self_occluded": 2, "others_occluded": 3},
            "images": images,
        },
    )


def test_official_split_visibility_and_max_iou(tmp_path) -> None:
    src = ochuman_file(tmp_path)
    raw = json.loads(src.read_text())
    ds = convert_ochuman(src, tmp_path / "och", val_images=3)
    val, test = ds.read_split("val"), ds.read_split("test")
    # Images sorted by native id; val = first 3, test = last 2; ids renumbered from 1.
    native_ids = sorted(im["image_id"] for im in raw["images"])
    assert [json.loads(e)["ochuman_image_id"] for e in val.images["extra"]] == native_ids[:3]
    assert [json.loads(e)["ochuman_image_id"] for e in test.images["extra"]] == native_ids[3:]
    assert val.images["image_id"].tolist() == [1, 2, 3] and test.images["image_id"].tolist() == [1, 2]
    # MaxIoU 1.0 is outside the official [0, 1) range; instances without keypoints are dropped.
    assert len(val) == 6 and len(test) == 4
    np.testing.assert_array_equal(val.instances["max_iou"], [0.55, 0.8] * 3)
    assert val.instances["instance_id"].tolist() == [1, 2, 3, 4, 5, 6]
    # Visibility by joint *name*: coco joint j is native index NATIVE_NAMES.index(name).
    by_native = {im["image_id"]: im for im in raw["images"]}
    first = by_native[native_ids[0]]["annotations"][0]
    native = np.asarray(first["keypoints"]).reshape(-1, 3)
    expected_class = {
        0: Visibility.UNLABELED,
        1: Visibility.VISIBLE,
        2: Visibility.SELF_OCCLUDED,
        3: Visibility.OCCLUDED,
    }
    for j, name in enumerate(COCO17.joint_names):
        row = native[NATIVE_NAMES.index(name)]
        assert val.visibility[0, j] == expected_class[int(row[2])]
        np.testing.assert_array_equal(val.keypoints[0, j], row[:2])
    assert val.instances["num_keypoints"][0] == int(
        (native[[NATIVE_NAMES.index(n) for n in COCO17.joint_names], 2] > 0).sum()
    )
    np.testing.assert_array_equal(val.instances["bbox_w"], [100.0] * 6)
    np.testing.assert_array_equal(val.instances["area"], [100.0 * 200.0] * 6)
    assert json.loads(val.instances["extra"][0])["segms"]["outer"] == [[1, 2, 3, 4, 5, 6]]
    assert np.nanmax(val.instances["self_occlusion_ratio"]) > 0


def test_round_trip_through_coco_export(tmp_path) -> None:
    ds = convert_ochuman(ochuman_file(tmp_path), tmp_path / "och", val_images=3)
    for split in ("val", "test"):
        exported = export_coco(ds, split, tmp_path / f"{split}.json")
        back = convert_coco([exported], tmp_path / f"back_{split}")
        assert back.manifest.source == "ochuman" and back.manifest.schema == "coco17"
        assert_splits_equal(back.read_split(split), ds.read_split(split))


def test_max_iou_band_option(tmp_path) -> None:
    ds = convert_ochuman(ochuman_file(tmp_path), tmp_path / "hard", val_images=3, iou_range=(0.75, 1.01))
    np.testing.assert_array_equal(ds.read_split("val").instances["max_iou"], [0.8, 1.0] * 3)


def test_missing_coco_joint_is_an_error(tmp_path) -> None:
    src = ochuman_file(tmp_path)
    raw = json.loads(src.read_text())
    raw["keypoint_names"][3] = "left_pinky"
    write_json(src, raw)
    with pytest.raises(OccbenchError) as err:
        convert_ochuman(src, tmp_path / "x")
    assert err.value.field == "keypoint_names"
