"""COCO keypoints conversion on the real sample: semantics, export, parity through pycocotools."""

from __future__ import annotations

import json

import numpy as np

from occbench.datasets.coco import convert_coco
from occbench.datasets.coco_export import export_coco
from occbench.skeletons import Visibility
from tests.datasets.helpers import assert_splits_equal, perturbed_detections


def _coco_stats(gt_path, dets):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = COCO(str(gt_path))
    ev = COCOeval(gt, gt.loadRes(dets), "keypoints")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return np.asarray(ev.stats)


def test_coco_sample_semantics_and_round_trip(coco_sample_dir, tmp_path) -> None:
    src = coco_sample_dir / "test_coco.json"
    raw = json.loads(src.read_text())
    ds = convert_coco([src], tmp_path / "coco", image_root=coco_sample_dir, split="val")
    assert ds.manifest.schema == "coco17" and ds.manifest.area_convention == "annotation"
    data = ds.read_split("val")
    anns = {a["id"]: a for a in raw["annotations"]}
    ids = data.instances["instance_id"].to_numpy()
    np.testing.assert_array_equal(data.instances["area"], [anns[i]["area"] for i in ids])
    np.testing.assert_array_equal(data.instances["num_keypoints"], [anns[i]["num_keypoints"] for i in ids])
    v = np.array([anns[i]["keypoints"][2::3] for i in ids])
    assert ((v == 2) == (data.visibility == Visibility.VISIBLE)).all()
    assert ((v == 1) == (data.visibility == Visibility.OCCLUDED)).all()
    seg = json.loads(data.instances["extra"][0])["segmentation"]
    assert seg == anns[ids[0]]["segmentation"]

    exported = export_coco(ds, "val", tmp_path / "val.json")
    back = convert_coco([exported], tmp_path / "back")
    assert_splits_equal(back.read_split("val"), data)
    again = json.loads(exported.read_text())
    assert again["annotations"][0]["segmentation"] == raw["annotations"][0]["segmentation"]
    assert again["licenses"] == raw.get("licenses", again["licenses"])

    dets = perturbed_detections(raw, seed=1, noise=2.0)
    np.testing.assert_array_equal(_coco_stats(src, dets), _coco_stats(exported, dets))
