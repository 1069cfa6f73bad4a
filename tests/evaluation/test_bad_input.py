"""Bad predictions get clear errors naming the record; an empty file is valid (AP = 0)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from occbench.cli import app
from occbench.errors import OccbenchError
from occbench.evaluation import evaluate, read_table
from tests.datasets.helpers import write_json
from tests.evaluation.refs import random_dataset, random_detections


@pytest.fixture
def gt_path(tmp_path):
    return write_json(tmp_path / "gt.json", random_dataset(1, num_images=8))


@pytest.mark.parametrize(
    ("mutate", "message", "field"),
    [
        (lambda d: d.__setitem__(3, {**d[3], "image_id": 999_999}), "unknown image id 999999", "image_id"),
        (lambda d: d[2]["keypoints"].pop(), "has 50 values, expected 51", "keypoints"),
        (lambda d: d[1]["keypoints"].__setitem__(0, float("nan")), "NaN or inf", "keypoints"),
        (lambda d: d[4].__setitem__("score", float("inf")), "NaN or inf", "score"),
        (lambda d: d[5].pop("score"), "missing", "score"),
        (lambda d: d[3].__setitem__("keypoints", ["a"] * 51), "non-numeric value", "keypoints"),
        (lambda d: d[6].__setitem__("bbox", [1.0, 2.0, 3.0]), "expected a list of 4 numbers", "bbox"),
        (lambda d: d[6].__setitem__("bbox", "10,10,20,20"), "non-numeric value", "bbox"),
        (lambda d: d[6].__setitem__("bbox", [1.0, 2.0, "w", 4.0]), "non-numeric value", "bbox"),
        (lambda d: d[6].__setitem__("bbox", [1.0, 2.0, float("nan"), 4.0]), "NaN or inf", "bbox"),
        (
            lambda d: [r.__setitem__("bbox", [0, 0, 9, 9]) for r in d[:6]],
            "missing; the first result has a bbox",
            "bbox",
        ),
    ],
)
def test_bad_predictions_name_the_record(tmp_path, gt_path, mutate, message, field) -> None:
    dets = random_detections(json.loads(gt_path.read_text()), 2)
    mutate(dets)
    pred_path = tmp_path / "results.json"
    pred_path.write_text(json.dumps(dets, allow_nan=True))
    with pytest.raises(OccbenchError) as err:
        evaluate(gt_path, pred_path)
    assert message in str(err.value) and str(pred_path) in str(err.value)
    assert err.value.field is not None and field in err.value.field
    assert err.value.record is not None
    if field == "bbox":
        assert err.value.record == 6


def test_empty_prediction_file_scores_zero(tmp_path, gt_path) -> None:
    pred_path = tmp_path / "empty.json"
    pred_path.write_text("[]")
    table = evaluate(gt_path, pred_path)
    std = table[table["breakdown"] == "standard"].set_index("metric")["value"]
    assert std["AP"] == 0.0 and std["AR"] == 0.0 and std["num_detections"] == 0


def test_cli_writes_tables_with_provenance(tmp_path, gt_path) -> None:
    dets = random_detections(json.loads(gt_path.read_text()), 3)
    pred_path = write_json(tmp_path / "results.json", dets)
    for suffix in ("parquet", "csv"):
        out = tmp_path / f"metrics.{suffix}"
        result = CliRunner().invoke(
            app, ["evaluate", "--gt", str(gt_path), "--predictions", str(pred_path), "--out", str(out), "--run", "unit"]
        )
        assert result.exit_code == 0, result.output
        assert "coco protocol" in result.output and "occlusion:coco-analyze" in result.output
        table = read_table(out)
        direct = evaluate(gt_path, pred_path, run="unit")
        assert list(table.columns) == ["run", "dataset", "split", "protocol", "breakdown", "subset", "metric", "value"]
        assert (table["value"].to_numpy() == direct["value"].to_numpy()).all()
        assert table.attrs["provenance"]["protocol"] == "coco"
    bad = CliRunner().invoke(app, ["evaluate", "--gt", str(gt_path), "--predictions", str(tmp_path / "nope.json")])
    assert bad.exit_code == 1 and "not found" in bad.output
