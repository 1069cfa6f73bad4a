"""CrowdPose conversion on the real validation file and the real two-image sample."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from occbench.cli import app
from occbench.datasets.coco import convert_coco
from occbench.datasets.coco_export import export_coco
from occbench.datasets.crowdpose import convert_crowdpose
from occbench.datasets.summary import summarize
from occbench.skeletons import CROWDPOSE14, Visibility
from tests.datasets.helpers import assert_splits_equal, perturbed_detections, write_json


@pytest.fixture(scope="module")
def crowdpose_val(tmp_path_factory, request):
    from tests.conftest import shared_file

    src = shared_file("crowdpose", "crowdpose_val.json")
    out = tmp_path_factory.mktemp("cp") / "crowdpose"
    return src, convert_crowdpose([src], out)


def test_info_counts_on_real_val(crowdpose_val) -> None:
    _, ds = crowdpose_val
    result = CliRunner().invoke(app, ["info", str(ds.root), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    val = summary["splits"][0]
    assert val["counts"]["images"] == 2000
    assert val["counts"]["instances"] == 8527
    assert val["counts"]["crowd"] == 106
    assert val["crowd_index_published"] == {"easy": 411, "medium": 1240, "hard": 349}
    # Visibility totals of the file (README of the data): v=0 40,747, v=1 51,590, v=2 27,041.
    totals = {c: sum(j[c] for j in val["visibility_per_joint"].values()) for c in ("unlabeled", "visible")}
    assert totals == {"unlabeled": 40747, "visible": 27041}
    occluded = sum(j["occluded"] + j["labeled_unknown"] for j in val["visibility_per_joint"].values())
    assert occluded == 51590
    # Head and neck are never "occluded": their v=1 carries no occlusion information.
    for joint in ("head", "neck"):
        assert val["visibility_per_joint"][joint]["occluded"] == 0
        assert val["visibility_per_joint"][joint]["labeled_unknown"] > 7000
    text = CliRunner().invoke(app, ["info", str(ds.root)]).output
    assert "2,000" in text and "8,527" in text and "1,240" in text


def test_file_semantics_are_kept(crowdpose_val) -> None:
    src, ds = crowdpose_val
    raw = json.loads(src.read_text())
    data = ds.read_split("val")
    by_id = {a["id"]: a for a in raw["annotations"]}
    nk_file = np.array([by_id[i]["num_keypoints"] for i in data.instances["instance_id"]])
    np.testing.assert_array_equal(data.instances["num_keypoints"].to_numpy(), nk_file)
    assert (nk_file == 0).sum() == 1453
    bbox = np.array([by_id[i]["bbox"] for i in data.instances["instance_id"]])
    np.testing.assert_array_equal(data.instances["area"].to_numpy(), bbox[:, 2] * bbox[:, 3] * 0.53)
    published = {im["id"]: im["crowdIndex"] for im in raw["images"]}
    np.testing.assert_array_equal(
        data.images["crowd_index"].to_numpy(), [published[i] for i in data.images["image_id"]]
    )
    assert (data.images["crowd_index"] > 1).sum() == 96
    assert np.isfinite(data.images["crowd_index_recomputed"]).all()
    assert any("skeleton" in w for w in ds.manifest.warnings)
    assert ds.manifest.skeleton == [list(e) for e in CROWDPOSE14.skeleton]
    limbs = data.visibility[:, :12]
    assert not (limbs == Visibility.LABELED_UNKNOWN).any()


def test_export_loads_in_pycocotools_and_round_trips(crowdpose_val, tmp_path) -> None:
    from pycocotools.coco import COCO

    _, ds = crowdpose_val
    exported = export_coco(ds, "val", tmp_path / "val.json")
    coco = COCO(str(exported))
    assert len(coco.getImgIds()) == 2000 and len(coco.getAnnIds()) == 8527
    ann = coco.loadAnns(coco.getAnnIds())[0]
    assert "occbench" in ann and len(ann["keypoints"]) == 42
    back = convert_coco([exported], tmp_path / "back")
    assert back.manifest.schema == "crowdpose14" and back.manifest.source == "crowdpose"
    assert back.manifest.area_convention == "bbox_x0.53"
    assert back.manifest.content_hash == ds.manifest.content_hash
    assert_splits_equal(back.read_split("val"), ds.read_split("val"))


def _crowdpose_stats(gt_path, dets):
    from faster_coco_eval import COCO, COCOeval_faster

    gt = COCO(str(gt_path))
    dt = gt.loadRes(dets)
    ev = COCOeval_faster(gt, dt, iouType="keypoints_crowd", kpt_oks_sigmas=list(CROWDPOSE14.sigmas), use_area=False)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    precision = ev.eval["precision"].copy()
    return np.asarray(ev.stats), precision


def test_reference_evaluator_gives_identical_stats_on_original_and_export(crowdpose_val, tmp_path) -> None:
    src, ds = crowdpose_val
    raw = json.loads(src.read_text())
    dets = perturbed_detections(raw, seed=3)
    exported = export_coco(ds, "val", tmp_path / "val.json")
    stats_orig, prec_orig = _crowdpose_stats(src, dets)
    stats_export, prec_export = _crowdpose_stats(exported, dets)
    assert 0.3 < stats_orig[0] < 1.0
    np.testing.assert_array_equal(stats_orig, stats_export)
    # The CrowdPose protocol reads only the "all" area range; the original file has no area
    # field at all, so the medium/large slices are not comparable.
    np.testing.assert_array_equal(prec_orig[:, :, :, 0, :], prec_export[:, :, :, 0, :])


def test_sample_sizes_checked_against_image_headers(crowdpose_sample_dir, tmp_path) -> None:
    raw = json.loads((crowdpose_sample_dir / "test_crowdpose.json").read_text())
    real = {im["id"]: (im["width"], im["height"]) for im in raw["images"]}
    raw["images"][0]["width"], raw["images"][0]["height"] = raw["images"][0]["height"], raw["images"][0]["width"]
    src = write_json(tmp_path / "crowdpose_test.json", raw)
    ds = convert_crowdpose([src], tmp_path / "ds", image_root=crowdpose_sample_dir)
    images = ds.read_split("test").images
    for row in images.itertuples():
        assert (row.width, row.height) == real[row.image_id]
    assert sum("swapped" in w for w in ds.manifest.warnings) == 1
    assert ds.image_path(images.file_name[0]).exists()


def test_folder_of_splits(crowdpose_sample_dir, tmp_path) -> None:
    folder = tmp_path / "annotations"
    folder.mkdir()
    for split in ("train", "test"):
        shutil.copy(crowdpose_sample_dir / "test_crowdpose.json", folder / f"crowdpose_{split}.json")
    ds = convert_crowdpose([folder], tmp_path / "ds")
    assert sorted(ds.splits) == ["test", "train"]
    assert summarize(ds).splits[0].counts["instances"] == 5
