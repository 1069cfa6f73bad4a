"""Evaluating a split a group of parts at a time gives the whole-split evaluation's rows, every
breakdown, bit for bit, whatever the grouping, under both protocols and the xtcocotools option."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from occbench.datasets.coco_export import export_coco
from occbench.datasets.format import occlusion_ratios
from occbench.datasets.jta import JTAOptions, convert_jta
from occbench.datasets.store import DatasetWriter
from occbench.datasets.synth.generate import SynthConfig
from occbench.datasets.synth.writers import write_layout
from occbench.errors import OccbenchError
from occbench.evaluation import by_parts
from occbench.evaluation.api import evaluate
from occbench.evaluation.breakdowns import ExactSums, Outcome
from occbench.evaluation.by_parts import evaluate_by_parts, part_groups
from occbench.evaluation.outcomes import pack, unpack
from occbench.predictions import Predictions, read_predictions, write_predictions
from occbench.skeletons import Visibility


@pytest.fixture(scope="module")
def multi_part(tmp_path_factory):
    """A converted JTA-layout split of 5 sequences (5 parts), rewritten so that parts 0 and 1
    have no self-occluded joint (so no self-occlusion ratio > 0: the split-wide choices are not
    any one group's), parts 1 and 2 hold crowd regions and the parts' image ids interleave (the
    reference's image order is no group's); two parts have no occluded joint.
    Predictions: perturbed poses, false positives, duplicates, score ties, zero joint scores,
    images without predictions and part 4 without any; the rows are shuffled so no group's
    predictions are contiguous."""
    root = tmp_path_factory.mktemp("by-parts")
    config = SynthConfig(splits={"test": 5}, frames=12, persons=7, occluders=1, size=(320, 180), seed=8)
    raw = write_layout("jta", root / "raw", config)
    converted = convert_jta(raw, root / "converted", options=JTAOptions(no_videos=True))
    writer = DatasetWriter(root / "ds", converted.manifest.schema)
    rng = np.random.default_rng(5)
    for index, part in enumerate(converted.part_names("test")):
        data = converted.read_part("test", part, with_3d=False)
        if index in (0, 1):
            data.visibility[data.visibility == Visibility.SELF_OCCLUDED] = Visibility.VISIBLE
        occ, self_occ = occlusion_ratios(data.visibility)
        data.instances["occlusion_ratio"], data.instances["self_occlusion_ratio"] = occ, self_occ
        if index in (1, 2):
            data.instances["iscrowd"] = rng.random(len(data.instances)) < 0.15
        # Interleave the parts' image ids, so the reference's order (ascending ids) is no group's.
        new_id = dict(zip(data.images["image_id"], np.arange(len(data.images)) * 10 + 5 - index, strict=True))
        data.images["image_id"] = data.images["image_id"].map(new_id)
        data.instances["image_id"] = data.instances["image_id"].map(new_id)
        writer.write_part("test", part, data)
    m = converted.manifest
    ds = writer.finalize(name=m.name, source=m.source, area_convention=m.area_convention)
    data = ds.read_split("test")
    assert data.instances["iscrowd"].sum() > 0
    n = len(data.instances)
    image_ids = data.instances["image_id"].to_numpy()
    last_part = np.isin(image_ids, ds.read_part("test", ds.part_names("test")[4]).images["image_id"])
    keep = (rng.random(n) < 0.85) & ~last_part
    kp = data.keypoints + rng.normal(0, 3, data.keypoints.shape)
    joint_scores = rng.uniform(0, 1, kp.shape[:2])
    joint_scores[rng.random(n) < 0.05] = 0.0  # detections the xtcocotools option drops
    poses = np.concatenate([kp, joint_scores[..., None]], axis=2)[keep]
    ids, scores = image_ids[keep], np.round(rng.uniform(0, 1, keep.sum()), 1)  # 11 values: ties everywhere
    fp = rng.integers(0, len(poses), 40)
    dup = rng.integers(0, len(poses), 30)
    poses = np.concatenate([poses, poses[fp] + rng.normal(0, 40, poses[fp].shape) * [1, 1, 0], poses[dup]])
    ids = np.concatenate([ids, ids[fp], ids[dup]])
    scores = np.concatenate([scores, np.round(rng.uniform(0, 1, 40), 1), scores[dup]])
    shuffle = rng.permutation(len(ids))
    preds = Predictions(image_id=ids[shuffle], keypoints=poses[shuffle], score=scores[shuffle])
    return ds, write_predictions(root / "preds.parquet", preds)


@pytest.fixture(scope="module")
def whole_tables(multi_part):
    """The whole-split tables with every breakdown, per (protocol, xtcocotools option)."""
    ds, preds = multi_part
    return {
        (protocol, compat): evaluate(
            ds, preds, split="test", protocol=protocol, xtcocotools_compat=compat, by_parts=False
        )
        for protocol in ("coco", "crowdpose")
        for compat in (False, True)
    }


def _same_tables(whole, parts) -> None:
    assert whole[["breakdown", "subset", "metric"]].equals(parts[["breakdown", "subset", "metric"]])
    values_whole, values_parts = whole["value"].to_numpy(), parts["value"].to_numpy()
    assert values_whole.tobytes() == values_parts.tobytes(), (values_whole, values_parts)
    timeless = {"evaluation_seconds", "evaluated_by_parts"}
    prov_whole = {k: v for k, v in whole.attrs["provenance"].items() if k not in timeless}
    prov_parts = {k: v for k, v in parts.attrs["provenance"].items() if k not in timeless}
    assert prov_whole == prov_parts


GROUPS = {1: 5, 60: (2, 5), 10_000: 1}  # people per group -> groups (or their range)


def _check_groups(table, group_people: int) -> None:
    groups = table.attrs["provenance"]["evaluated_by_parts"]
    expected = GROUPS[group_people]
    assert groups == expected if isinstance(expected, int) else expected[0] <= groups <= expected[1]


@pytest.mark.parametrize(
    ("protocol", "xtcocotools_compat"), [("coco", False), ("coco", True), ("crowdpose", False), ("crowdpose", True)]
)
@pytest.mark.parametrize("group_people", [1, 60, 10_000])
def test_every_breakdown_by_parts_equals_the_whole_split(
    multi_part, whole_tables, monkeypatch, protocol, xtcocotools_compat, group_people
) -> None:
    ds, preds = multi_part
    assert len(ds.part_names("test")) == 5
    monkeypatch.setattr(by_parts, "GROUP_INSTANCES", group_people)
    whole = whole_tables[protocol, xtcocotools_compat]
    parts = evaluate(ds, preds, split="test", protocol=protocol, xtcocotools_compat=xtcocotools_compat, by_parts=True)
    _same_tables(whole, parts)
    _check_groups(parts, group_people)
    # Every breakdown is there, with real values.
    names = set(whole.breakdown)
    assert {
        "occlusion:coco-analyze",
        "occlusion:assigned",
        "self_occlusion:coco-analyze",
        "keypoint_subset",
        "joint_visibility",
        "crowd_index:recomputed",
        "crowd_index_sweep:recomputed",
        "errors",
        "oracle",
        "pr_curve",
    } <= names
    assert set(whole.loc[whole.breakdown == "keypoint_subset", "subset"]) == {"visible", "occluded", "self_occluded"}
    assert 0 < whole.loc[whole.metric == "AP", "value"].iloc[0] < 1
    gains = whole.loc[(whole.breakdown == "oracle") & (whole.metric == "AP_gain"), "value"]
    assert (gains > 0).any()


@pytest.mark.parametrize(
    ("protocol", "xtcocotools_compat", "breakdowns"),
    [
        ("auto", False, "none"),
        ("coco", False, "crowding,pr_curve"),
        ("crowdpose", True, "pr_curve,errors,keypoint_subset"),
        ("coco", True, "occlusion,joint_visibility"),
    ],
)
def test_chosen_breakdowns_by_parts_equal_the_whole_split(
    multi_part, monkeypatch, protocol, xtcocotools_compat, breakdowns
) -> None:
    ds, preds = multi_part
    monkeypatch.setattr(by_parts, "GROUP_INSTANCES", 60)
    options = {"protocol": protocol, "breakdowns": breakdowns, "xtcocotools_compat": xtcocotools_compat}
    whole = evaluate(ds, preds, split="test", by_parts=False, **options)
    parts = evaluate(ds, preds, split="test", by_parts=True, progress=True, **options)  # the CLI's bar
    _same_tables(whole, parts)


def test_large_splits_go_by_parts_by_default(multi_part, monkeypatch) -> None:
    ds, preds = multi_part
    monkeypatch.setattr(by_parts, "GROUP_INSTANCES", 10)  # the threshold and the group size
    for breakdowns in ("none", "crowding", "occlusion", "all"):
        table = evaluate(ds, preds, split="test", breakdowns=breakdowns)
        assert table.attrs["provenance"]["evaluated_by_parts"] >= 5
    assert "evaluated_by_parts" not in evaluate(ds, preds, split="test", by_parts=False).attrs["provenance"]
    monkeypatch.setattr(by_parts, "GROUP_INSTANCES", 10_000)  # a small split: whole
    assert "evaluated_by_parts" not in evaluate(ds, preds, split="test").attrs["provenance"]
    # Breakdowns that add passes per group take smaller groups; the others the usual size.
    monkeypatch.setattr(by_parts, "GROUP_INSTANCES_WITH_BREAKDOWNS", 100)
    for breakdowns, groups in (("crowding,pr_curve", 1), ("errors", 5), ("all", 5)):
        table = evaluate(ds, preds, split="test", breakdowns=breakdowns, by_parts=True)
        assert table.attrs["provenance"]["evaluated_by_parts"] == groups, breakdowns
    with pytest.raises(OccbenchError, match="cannot evaluate by parts: the ground truth must be an occbench dataset"):
        evaluate(export_coco(ds, "test", ds.root.parent / "gt.json"), preds, by_parts=True)


def test_predictions_in_memory_or_as_results_json_go_by_parts_too(multi_part, whole_tables, tmp_path) -> None:
    # They are checked in their own order, then staged ordered by image (stably: tied scores keep
    # their order within an image) for the groups to read: the same rows, bit for bit.
    ds, preds = multi_part
    in_memory = read_predictions(preds)
    results = in_memory.to_coco_results()
    (tmp_path / "results.json").write_text(json.dumps(results))
    for protocol, compat in (("crowdpose", False), ("coco", True)):
        whole = whole_tables[protocol, compat]
        for given in (in_memory, results, tmp_path / "results.json"):
            options = {"protocol": protocol, "xtcocotools_compat": compat}
            parts = evaluate(ds, given, split="test", by_parts=True, workers=1, **options)
            assert parts.attrs["provenance"]["evaluated_by_parts"] == 1
            _same_tables(whole, parts)
    with_nan = in_memory.select(np.arange(len(in_memory)))
    with_nan.keypoints[23, 2, 1] = np.inf
    with pytest.raises(OccbenchError, match="NaN or inf") as err:
        evaluate(ds, with_nan, split="test", by_parts=True)
    assert err.value.record == 23
    results[7]["image_id"] = 999
    with pytest.raises(OccbenchError, match="unknown image id 999") as err:
        evaluate(ds, results, split="test", by_parts=True)
    assert err.value.record == 7


def test_by_parts_names_bad_predictions_by_their_row_in_the_file(multi_part, tmp_path) -> None:
    ds, good = multi_part
    preds = read_predictions(good)
    preds.keypoints[17, 3, 0] = np.nan
    bad = write_predictions(tmp_path / "nan.parquet", preds)
    with pytest.raises(OccbenchError) as err:
        evaluate_by_parts(ds, "test", bad, "crowdpose", group_instances=30)
    assert err.value.record == 17 and "NaN or inf" in str(err.value)
    preds.keypoints[17, 3, 0] = 1.0
    preds.image_id[5] = 999
    with pytest.raises(OccbenchError, match="unknown image id 999") as err:
        evaluate_by_parts(ds, "test", write_predictions(tmp_path / "id.parquet", preds), "crowdpose")
    assert err.value.record == 5


def test_part_groups_respect_the_limit() -> None:
    assert part_groups([3, 4, 5, 1, 9, 2], 8) == [[0, 1], [2, 3], [4], [5]]
    assert part_groups([], 8) == []
    assert part_groups([20], 8) == [[0]]


def test_exact_sums_are_correctly_rounded_whatever_the_grouping() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.uniform(0, 1, 5000) ** 3, [0.0, 1.0, 5e-324, 1e-300], np.full(10, 0.1)])
    bins = rng.integers(0, 3, len(values))
    whole = ExactSums(4)
    whole.add(bins, values)
    expected = [math.fsum(values[bins == b]) for b in range(4)]  # fsum is correctly rounded
    assert whole.totals().tolist() == expected
    split = ExactSums(4)
    for chunk in np.array_split(rng.permutation(len(values)), 7):
        part = ExactSums(4)
        part.add(bins[chunk], values[chunk])
        split.merge(part)
    assert split.totals().tolist() == expected
    tenths = ExactSums(1)
    tenths.add(np.zeros(10, dtype=int), np.full(10, 0.1))
    assert tenths.totals()[0] == 1.0 and sum([0.1] * 10) != 1.0  # the exact sum, not the sequential one


def test_packed_flags_round_trip() -> None:
    rng = np.random.default_rng(1)
    groups = [Outcome(rng.random((10, n)) < 0.5, rng.random((10, n)) < 0.3, 0) for n in (7, 0, 13)]
    matched, ignored = unpack([pack(o).bits for o in groups])
    assert matched.tolist() == np.concatenate([o.matched for o in groups], axis=1).tolist()
    assert ignored.tolist() == np.concatenate([o.ignored for o in groups], axis=1).tolist()
    assert pack(groups[0]).bits.shape == (3, 7) and pack(groups[0]).bits.dtype == np.uint8
