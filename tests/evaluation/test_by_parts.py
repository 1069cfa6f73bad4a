"""Evaluating a split a group of parts at a time gives the whole-split evaluation's numbers, bit
for bit, whatever the grouping, under both protocols and the xtcocotools option."""

from __future__ import annotations

import numpy as np
import pytest

from occbench.datasets.jta import JTAOptions, convert_jta
from occbench.datasets.synth.generate import SynthConfig
from occbench.datasets.synth.writers import write_layout
from occbench.errors import OccbenchError
from occbench.evaluation import by_parts
from occbench.evaluation.api import evaluate
from occbench.evaluation.by_parts import part_groups, standard_stats_by_parts
from occbench.predictions import Predictions, write_predictions


@pytest.fixture(scope="module")
def multi_part(tmp_path_factory):
    """A converted JTA-layout split of 5 sequences (5 parts) and a predictions file with
    perturbed poses, false positives, duplicates, score ties, zero joint scores and images
    without predictions; the rows are shuffled so no group's predictions are contiguous."""
    root = tmp_path_factory.mktemp("by-parts")
    config = SynthConfig(splits={"test": 5}, frames=12, persons=7, occluders=1, size=(320, 180), seed=8)
    raw = write_layout("jta", root / "raw", config)
    ds = convert_jta(raw, root / "ds", options=JTAOptions(no_videos=True))
    data = ds.read_split("test")
    rng = np.random.default_rng(3)
    n = len(data.instances)
    image_ids = data.instances["image_id"].to_numpy()
    keep = rng.random(n) < 0.85
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


def _same_tables(whole, parts) -> None:
    assert whole[["breakdown", "subset", "metric"]].equals(parts[["breakdown", "subset", "metric"]])
    values_whole, values_parts = whole["value"].to_numpy(), parts["value"].to_numpy()
    assert values_whole.tobytes() == values_parts.tobytes(), (values_whole, values_parts)
    timeless = {"evaluation_seconds", "evaluated_by_parts"}
    prov_whole = {k: v for k, v in whole.attrs["provenance"].items() if k not in timeless}
    prov_parts = {k: v for k, v in parts.attrs["provenance"].items() if k not in timeless}
    assert prov_whole == prov_parts


@pytest.mark.parametrize(
    ("protocol", "xtcocotools_compat", "breakdowns"),
    [
        ("auto", False, "none"),
        ("coco", False, "crowding,pr_curve"),
        ("coco", True, "none"),
        ("crowdpose", True, "pr_curve,crowding"),
    ],
)
@pytest.mark.parametrize("group_people", [1, 60, 10_000])
def test_by_parts_equals_the_whole_split(
    multi_part, monkeypatch, protocol, xtcocotools_compat, breakdowns, group_people
) -> None:
    ds, preds = multi_part
    assert len(ds.part_names("test")) == 5
    monkeypatch.setattr(by_parts, "GROUP_INSTANCES", group_people)
    options = {"protocol": protocol, "breakdowns": breakdowns, "xtcocotools_compat": xtcocotools_compat}
    whole = evaluate(ds, preds, split="test", by_parts=False, **options)
    parts = evaluate(ds, preds, split="test", by_parts=True, **options)
    _same_tables(whole, parts)
    groups = parts.attrs["provenance"]["evaluated_by_parts"]
    assert groups == {1: 5, 60: 5, 10_000: 1}[group_people] or (group_people == 60 and 2 <= groups <= 5)
    assert 0 < whole.loc[whole.metric == "AP", "value"].iloc[0] < 1
    if breakdowns != "none":
        assert {"crowd_index:recomputed", "crowd_index_sweep:recomputed", "pr_curve"} <= set(whole.breakdown)


def test_large_splits_go_by_parts_by_default(multi_part, monkeypatch) -> None:
    ds, preds = multi_part
    monkeypatch.setattr(by_parts, "GROUP_INSTANCES", 10)  # the threshold and the group size
    table = evaluate(ds, preds, split="test", breakdowns="none")
    assert table.attrs["provenance"]["evaluated_by_parts"] >= 1
    assert evaluate(ds, preds, split="test", breakdowns="crowding").attrs["provenance"]["evaluated_by_parts"] >= 1
    # Other breakdowns need the whole split: the default then loads it; asking for parts is refused.
    assert "evaluated_by_parts" not in evaluate(ds, preds, split="test", breakdowns="occlusion").attrs["provenance"]
    with pytest.raises(OccbenchError, match="cannot evaluate by parts: breakdowns errors, occlusion need the whole"):
        evaluate(ds, preds, split="test", breakdowns="occlusion,crowding,errors", by_parts=True)


def test_by_parts_names_bad_predictions_by_their_row_in_the_file(multi_part, tmp_path) -> None:
    ds, good = multi_part
    from occbench.predictions import read_predictions

    preds = read_predictions(good)
    preds.keypoints[17, 3, 0] = np.nan
    bad = write_predictions(tmp_path / "nan.parquet", preds)
    with pytest.raises(OccbenchError) as err:
        standard_stats_by_parts(ds, "test", bad, "crowdpose", group_instances=30)
    assert err.value.record == 17 and "NaN or inf" in str(err.value)
    preds.keypoints[17, 3, 0] = 1.0
    preds.image_id[5] = 999
    with pytest.raises(OccbenchError, match="unknown image id 999") as err:
        standard_stats_by_parts(ds, "test", write_predictions(tmp_path / "id.parquet", preds), "crowdpose")
    assert err.value.record == 5


def test_part_groups_respect_the_limit() -> None:
    assert part_groups([3, 4, 5, 1, 9, 2], 8) == [[0, 1], [2, 3], [4], [5]]
    assert part_groups([], 8) == []
    assert part_groups([20], 8) == [[0]]
