"""End to end: predict on generated data with a known answer and on the real CrowdPose sample."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from occbench.datasets.coco_export import export_coco
from occbench.datasets.crowdpose import convert_crowdpose
from occbench.errors import OccbenchError
from occbench.evaluation.api import evaluate, evaluate_box_robustness, standard_row
from occbench.inference.geometry import box_to_center_scale
from occbench.inference.pipeline import PredictOptions, predict
from occbench.predictions import read_predictions
from occbench.skeletons import CROWDPOSE14
from tests.inference.helpers import make_marker_dataset, marker_model, tiny_model


def coco_stats(ds, split: str, results: list[dict], sigmas: np.ndarray, tmp_path) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt_file = export_coco(ds, split, tmp_path / f"{split}_gt.json")
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_file))
        evaluator = COCOeval(gt, gt.loadRes(results), "keypoints")
        evaluator.params.kpt_oks_sigmas = sigmas
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator.stats


@pytest.fixture(scope="module")
def markers(tmp_path_factory):
    return make_marker_dataset(tmp_path_factory.mktemp("markers"), num_images=4)


OPTS = PredictOptions(workers=0, batch_size=3, part_images=2)


@pytest.mark.parametrize("flip", [False, True])
def test_generated_dataset_predictions_land_on_the_truth(markers, tmp_path, flip) -> None:
    result = predict(
        marker_model(), markers, "test", tmp_path / "out", options=replace(OPTS, flip=flip), progress=False
    )
    truth = markers.read_split("test")
    preds = result.predictions
    np.testing.assert_array_equal(preds.image_id, truth.instances["image_id"])
    error = np.linalg.norm(preds.keypoints[..., :2] - truth.keypoints, axis=-1)
    assert error.mean() < 1.0 and error.max() < 2.5
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    stats = coco_stats(markers, "test", results, CROWDPOSE14.sigmas_array, tmp_path)
    assert stats[0] > 0.95
    # occbench's evaluator reads the Parquet output and agrees with pycocotools on the JSON one.
    table = evaluate(markers, tmp_path / "out", protocol="coco", split="test", breakdowns="none")
    assert standard_row(table, "AP") == pytest.approx(stats[0], abs=1e-9)
    # The Parquet contract round-trips, with the run's provenance.
    back = read_predictions(tmp_path / "out")
    np.testing.assert_array_equal(back.keypoints, preds.keypoints)
    assert back.metadata["flip"] is flip and back.metadata["model"] == "markernet"
    assert back.metadata["persons_in"] == 8 and back.metadata["device"] == "cpu"
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert {"forward_s", "crop_s", "finalize_s"} <= set(run["stage_seconds"]) and run["persons_per_s"] > 0
    assert not (tmp_path / "out.partial").exists()


def test_video_frames_give_the_same_predictions_as_stills(markers, tmp_path) -> None:
    video = make_marker_dataset(tmp_path / "v", num_images=4, video=True)
    stills = predict(marker_model(), markers, "test", tmp_path / "a", options=OPTS, progress=False).predictions
    frames = predict(marker_model(), video, "test", tmp_path / "b", options=PredictOptions(workers=2), progress=False)
    np.testing.assert_array_equal(frames.predictions.keypoints, stills.keypoints)


def test_duplicate_detections_are_suppressed_or_merged(markers, tmp_path) -> None:
    truth = markers.read_split("test")
    dets = []
    for image_id, x, y, w, h in truth.instances[["image_id", "bbox_x", "bbox_y", "bbox_w", "bbox_h"]].to_numpy():
        dets.append({"image_id": int(image_id), "category_id": 1, "bbox": [x, y, w, h], "score": 0.95})
        dets.append({"image_id": int(image_id), "category_id": 1, "bbox": [x + 1, y - 1, w * 1.02, h], "score": 0.9})
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(dets))
    counts = {}
    for nms in ("none", "oks", "pose"):
        opts = PredictOptions(boxes=str(path), nms=nms, workers=0, decoder="dark")
        preds = predict(marker_model(), markers, "test", tmp_path / nms, options=opts, progress=False).predictions
        counts[nms] = len(preds)
        error = np.linalg.norm(preds.keypoints[..., :2][:: (2 if nms == "none" else 1)] - truth.keypoints, axis=-1)
        assert error.mean() < 1.5
    assert counts == {"none": 16, "oks": 8, "pose": 8}


class _Interrupting(torch.nn.Module):
    def __init__(self, inner: torch.nn.Module, after: int) -> None:
        super().__init__()
        self.inner, self.after, self.calls = inner, after, 0

    def forward(self, x):
        self.calls += 1
        if self.calls > self.after:
            raise KeyboardInterrupt
        return self.inner(x)


def test_interrupted_run_resumes_to_the_same_result(markers, tmp_path) -> None:
    opts = PredictOptions(workers=0, batch_size=2, part_images=1)
    fresh = predict(marker_model(), markers, "test", tmp_path / "fresh", options=opts, progress=False).predictions
    broken = marker_model()
    broken.module = _Interrupting(broken.module, after=3)
    with pytest.raises(OccbenchError, match="--resume"):
        predict(broken, markers, "test", tmp_path / "out", options=opts, progress=False)
    assert len(list((tmp_path / "out.partial" / "parts").glob("*.parquet"))) >= 2
    # A kill in the middle of writing a final file leaves atomic_path's temporary file behind.
    (tmp_path / "out.partial" / ".predictions.parquet.k1ll.tmp").write_bytes(b"half a file")
    with pytest.raises(OccbenchError, match="other settings"):
        predict(marker_model(), markers, "test", tmp_path / "out", options=replace(opts, flip=True), resume=True)
    result = predict(marker_model(), markers, "test", tmp_path / "out", options=opts, resume=True, progress=False)
    assert result.metadata["resumed_parts"] >= 2
    assert result.metadata["persons_in"] == 8 and result.metadata["images"] == 4
    assert 0 < result.metadata["persons_this_run"] < 8
    assert not list((tmp_path / "out").rglob("*.tmp"))  # not published with the predictions
    np.testing.assert_array_equal(result.predictions.image_id, fresh.image_id)
    np.testing.assert_array_equal(result.predictions.keypoints, fresh.keypoints)
    with pytest.raises(OccbenchError, match="--overwrite"):
        predict(marker_model(), markers, "test", tmp_path / "out", options=opts, progress=False)


def test_unreadable_image_names_the_file(markers, tmp_path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(markers.root.parent, copy)
    (copy / "media" / "000002.png").write_bytes(b"not a png")
    with pytest.raises(OccbenchError, match=r"000002\.png"):
        predict(marker_model(), copy / "dataset", "test", tmp_path / "out", options=OPTS, progress=False)
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def crowdpose_sample(tmp_path_factory):
    from tests.conftest import shared_file

    folder = shared_file("crowdpose-sample")
    out = tmp_path_factory.mktemp("cps") / "crowdpose"
    return convert_crowdpose([folder / "test_crowdpose.json"], out, image_root=folder, split="test"), folder


@pytest.mark.parametrize(
    ("occnet", "boxes", "options"),
    [
        (False, "gt", {"flip": True, "nms": "oks"}),
        (True, "dets", {"flip": True, "decoder": "dark", "nms": "oks", "channel": "BGR"}),
        (False, "dets", {"nms": "pose", "bias": 0.5}),
        (True, "jitter:0.1", {"nms": "none", "amp": "bf16", "channels_last": True}),
    ],
)
def test_real_crowdpose_sample_predictions_are_scored(crowdpose_sample, tmp_path, occnet, boxes, options) -> None:
    ds, folder = crowdpose_sample
    options = dict(options)
    if boxes == "dets":
        boxes = str(folder / "test_crowdpose_det_AP_40.json")
    channel = options.pop("channel", None)
    model = tiny_model(CROWDPOSE14.num_joints, occnet=occnet, channel_order=channel, bias=options.pop("bias", 0.0))
    opts = PredictOptions(boxes=boxes, workers=1, batch_size=4, **options)
    result = predict(model, ds, "test", tmp_path / "out", options=opts, progress=False)
    preds = result.predictions
    assert len(preds) > 0 and set(preds.image_id) <= {106848, 103319}
    assert np.isfinite(preds.keypoints).all()
    # Argmax decoding keeps joints in the crops of their boxes (pose NMS merges within 15 px); DARK's
    # Taylor step is unbounded on the random maps of an untrained network, as officially.
    center, scale = box_to_center_scale(preds.box, 96 / 128)
    slack = 15.0 if options.get("nms") == "pose" else 0.5
    within = np.abs(preds.keypoints[..., :2] - center[:, None]) <= scale[:, None] * 100 + slack
    assert within.all() or options.get("decoder") == "dark"
    flags = set(np.unique(preds.occluded).tolist())
    assert flags <= ({0, 1} if occnet else {-1})
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    stats = coco_stats(ds, "test", results, CROWDPOSE14.sigmas_array, tmp_path)
    assert len(stats) == 10 and np.all((stats >= -1) & (stats <= 1))
    table = evaluate(ds, result.predictions, split="test", breakdowns="all")  # CrowdPose protocol
    assert -1 <= standard_row(table, "AP") <= 1 and table.attrs["provenance"]["predictions"]["model"] == model.name
    assert result.metadata["channel_order"] == (channel or "RGB")
    assert result.metadata["amp_dtype"] == ("bfloat16" if options.get("amp") else None)


def test_no_boxes_gives_empty_but_complete_outputs(markers, tmp_path) -> None:
    path = tmp_path / "dets.json"
    path.write_text(json.dumps([{"image_id": 1, "category_id": 1, "bbox": [1, 2, 30, 40], "score": 0.1}]))
    opts = PredictOptions(boxes=str(path), score_threshold=0.5, workers=0)
    result = predict(marker_model(), markers, "test", tmp_path / "out", options=opts, progress=False)
    assert len(result.predictions) == 0 and result.metadata["persons_in"] == 0
    assert json.loads((tmp_path / "out" / "results.json").read_text()) == []
    assert len(read_predictions(tmp_path / "out")) == 0


def test_device_and_amp_choices() -> None:
    from occbench.inference.pipeline import amp_dtype, select_device

    assert select_device("cpu").type == "cpu"
    assert select_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(OccbenchError, match="CUDA"):
            select_device("cuda")
    with pytest.raises(OccbenchError, match="--device"):
        select_device("tpu:7")
    cpu = torch.device("cpu")
    assert amp_dtype(False, cpu) is None and amp_dtype(True, cpu) is torch.bfloat16
    assert amp_dtype("fp16", cpu) is torch.float16


def test_synthetic_crowd_dataset_runs_through_predict_and_scores(tmp_path) -> None:
    from occbench.datasets.synth.generate import SynthConfig
    from occbench.datasets.synth.writers import write_layout

    native = write_layout("crowdpose", tmp_path / "native", SynthConfig(frames=3, persons=6, size=(320, 240), seed=1))
    ds = convert_crowdpose([native / "annotations"], tmp_path / "ds", image_root=native / "images")
    opts = PredictOptions(flip=True, nms="pose", workers=1, batch_size=8)
    model = tiny_model(CROWDPOSE14.num_joints, occnet=True, bias=0.5)  # scores pass pose NMS's 0.3
    result = predict(model, ds, "test", tmp_path / "out", options=opts, progress=False)
    assert 0 < len(result.predictions) <= result.metadata["persons_in"]
    table = evaluate(ds, tmp_path / "out", split="test", breakdowns="all")
    assert 0 <= standard_row(table, "AP") <= 1
    assert {"keypoint_subset", "oracle"} <= set(table["breakdown"])


def test_box_robustness_protocol_end_to_end(markers, tmp_path) -> None:
    runs = {}
    for sigma in (0.0, 0.1, 0.3):
        opts = replace(OPTS, boxes=f"jitter:{sigma}", seed=3)
        runs[sigma] = predict(marker_model(), markers, "test", tmp_path / f"j{sigma}", options=opts, progress=False)
    gt_run = predict(marker_model(), markers, "test", tmp_path / "gt", options=OPTS, progress=False)
    np.testing.assert_array_equal(runs[0.0].predictions.keypoints, gt_run.predictions.keypoints)
    assert runs[0.3].metadata["boxes_meta"] == {"jitter_sigma": 0.3, "seed": 3}
    table = evaluate_box_robustness(markers, {s: r.predictions for s, r in runs.items()}, split="test")
    ap = table[table["metric"] == "AP"].set_index("subset")["value"]
    assert list(ap.index) == ["sigma=0", "sigma=0.1", "sigma=0.3"]
    assert ap["sigma=0"] > 0.95 and ap["sigma=0.3"] < ap["sigma=0"]


class _Capture(torch.nn.Module):
    """Records its input; predicts nothing in particular."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[torch.Tensor] = []

    def forward(self, x):
        self.inputs.append(x.clone())
        return {"heatmaps": torch.zeros(x.shape[0], 14, x.shape[2] // 4, x.shape[3] // 4)}


@pytest.mark.parametrize("order", ["RGB", "BGR"])
def test_channel_order_and_normalisation_reach_the_network(markers, tmp_path, order) -> None:
    from occbench.inference.model import TopDownModel

    capture = _Capture()
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
    model = TopDownModel(capture, "capture", (64, 48), channel_order=order, mean=mean, std=std)
    predict(model, markers, "test", tmp_path / "out", options=OPTS, progress=False)
    x = torch.cat(capture.inputs)
    pixels = x * torch.tensor(std).view(1, 3, 1, 1) + torch.tensor(mean).view(1, 3, 1, 1)
    # The background is black but for a left-to-right blue ramp: blue is the brightest channel.
    means = pixels.mean(dim=(0, 2, 3))
    blue = 2 if order == "RGB" else 0
    assert means.argmax() == blue and means[blue] > 0.3 and (means[[c for c in range(3) if c != blue]] < 0.1).all()
    assert pixels.min() >= -1e-5 and pixels.max() <= 1 + 1e-5  # pixel / 255 before (x - mean) / std


def test_images_whose_table_size_is_wrong_are_cropped_from_their_real_size(tmp_path) -> None:
    # Sampling grids are computed for the whole plan from the table's width and height; an image
    # that decodes to another size must get its own, so the result equals a correct table's.
    from occbench.datasets.store import write_dataset
    from tests.inference.helpers import make_marker_split

    data, _ = make_marker_split(tmp_path / "media", 3)
    sets = {}
    for name, change in (("right", 0), ("wrong", 37)):
        # Larger than the truth, so the ground-truth boxes (clipped to the table's size) stay.
        images = data.images.copy()
        images.loc[images.index[1], "width"] += change
        images.loc[images.index[2], "height"] += change
        ds = write_dataset(
            tmp_path / name,
            CROWDPOSE14.name,
            {"test": replace(data, images=images)},
            name="markers",
            source="generated",
            area_convention="bbox",
            image_root=tmp_path / "media",
        )
        sets[name] = predict(marker_model(), ds, "test", tmp_path / f"out_{name}", options=OPTS, progress=False)
    right, wrong = sets["right"].predictions, sets["wrong"].predictions
    np.testing.assert_array_equal(wrong.keypoints, right.keypoints)
    truth = data.keypoints
    assert np.linalg.norm(right.keypoints[..., :2] - truth, axis=-1).mean() < 1.0


def test_lanes_give_the_single_lane_result_and_restore_the_threads(tmp_path) -> None:
    ds = make_marker_dataset(tmp_path / "data", num_images=9, seed=5)
    threads = torch.get_num_threads()
    runs = {}
    for lanes in (1, 3):
        opts = replace(OPTS, lanes=lanes, flip=True)
        runs[lanes] = predict(
            tiny_model(14, bias=0.5), ds, "test", tmp_path / f"lanes{lanes}", options=opts, progress=False
        )
        assert torch.get_num_threads() == threads
    one, three = runs[1], runs[3]
    assert (one.metadata["lanes"], three.metadata["lanes"]) == (1, 3)
    assert three.metadata["threads_per_lane"] >= 1
    np.testing.assert_array_equal(three.predictions.image_id, one.predictions.image_id)
    # Batches are composed differently per lane, so only float rounding may differ.
    np.testing.assert_allclose(three.predictions.keypoints, one.predictions.keypoints, rtol=0, atol=1e-3)
    np.testing.assert_allclose(three.predictions.score, one.predictions.score, rtol=1e-5)
    # Decoding processes or an accelerator take the single-lane path.
    with_workers = predict(
        tiny_model(14), ds, "test", tmp_path / "workers", options=replace(OPTS, lanes=3, workers=1), progress=False
    )
    assert with_workers.metadata["lanes"] == 1


def test_a_failing_lane_stops_the_others_and_names_the_file(markers, tmp_path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(markers.root.parent, copy)
    (copy / "media" / "000003.png").write_bytes(b"not a png")
    with pytest.raises(OccbenchError, match=r"000003\.png"):
        predict(
            marker_model(), copy / "dataset", "test", tmp_path / "out", options=replace(OPTS, lanes=3), progress=False
        )
    assert not (tmp_path / "out").exists()
    with pytest.raises(OccbenchError, match="at least 1"):
        predict(marker_model(), markers, "test", tmp_path / "zero", options=replace(OPTS, lanes=0), progress=False)


def test_default_lanes_follow_torchs_thread_budget(tmp_path) -> None:
    ds = make_marker_dataset(tmp_path / "data", num_images=6)
    opts = replace(OPTS, part_images=1)  # 6 decode units: enough for 4 lanes
    before = torch.get_num_threads()
    try:
        for budget, lanes, per_lane in ((1, 1, 1), (2, 2, 1), (6, 4, 1), (8, 4, 2)):
            torch.set_num_threads(budget)
            result = predict(marker_model(), ds, "test", tmp_path / f"b{budget}", options=opts, progress=False)
            assert (result.metadata["lanes"], result.metadata["threads_per_lane"]) == (lanes, per_lane)
            assert torch.get_num_threads() == budget
    finally:
        torch.set_num_threads(before)


def test_units_are_dealt_to_the_least_loaded_lane_in_plan_order() -> None:
    from occbench.inference.frames import DecodeUnit
    from occbench.inference.pipeline import lane_units

    units = [DecodeUnit((i,), (f"{i}.jpg",)) for i in range(7)]
    persons = np.array([5, 5, 1, 1, 1, 9, 2])
    dealt = lane_units(units, persons, 2)
    # loads: [5,0] -> [5,5] -> [6,5] -> [6,6] -> [7,6] -> [7,15] -> [9,15]
    assert [[u.positions[0] for u in lane] for lane in dealt] == [[0, 2, 4, 6], [1, 3, 5]]
    assert [[u.positions[0] for u in lane] for lane in lane_units(units, persons, 1)] == [list(range(7))]
    assert lane_units(units[:1], persons[:1], 3)[1:] == [[], []]


def test_a_single_video_runs_as_one_lane_with_every_thread(tmp_path) -> None:
    video = make_marker_dataset(tmp_path / "v", num_images=4, video=True)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        opts = replace(OPTS, lanes=4)
        result = predict(marker_model(), video, "test", tmp_path / "out", options=opts, progress=False)
    finally:
        torch.set_num_threads(before)
    assert (result.metadata["lanes"], result.metadata["threads_per_lane"]) == (1, 2)
