"""The column-wise COCO results reader equals the record-by-record path bit for bit, and hands
every file it cannot prove uniform to the record path (which names the problem)."""

from __future__ import annotations

import json

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from occbench.errors import OccbenchError
from occbench.predictions import _columnar_results, coco_results_to_predictions, read_coco_results

FIELDS = ("image_id", "keypoints", "score", "box", "occluded", "track_id")


def assert_same(a, b) -> None:
    for name in FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert np.array_equal(x, y, equal_nan=True), name
        # bit for bit, signed zeros included
        assert x.tobytes() == y.tobytes(), name
    assert a.metadata == b.metadata


def record_path(raw: bytes, num_joints=None):
    data = orjson.loads(raw)
    return coco_results_to_predictions(data, num_joints)


numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.floats(min_value=-5000, max_value=5000, allow_nan=False).map(lambda v: round(v, 2)),
    st.integers(min_value=-(2**53), max_value=2**53),
)


@st.composite
def result_files(draw):
    k = draw(st.integers(1, 5))
    n = draw(st.integers(1, 12))
    with_bbox = draw(st.sampled_from(["none", "box", "empty"]))
    with_track = draw(st.booleans())
    order = draw(st.permutations(["image_id", "category_id", "keypoints", "score", "bbox", "track_id"]))
    records = []
    for _ in range(n):
        values = {
            "image_id": draw(st.integers(-(2**62), 2**62)),
            "category_id": 1,
            "keypoints": draw(st.lists(numbers, min_size=3 * k, max_size=3 * k)),
            "score": draw(numbers),
            "bbox": draw(st.lists(numbers, min_size=4, max_size=4)) if with_bbox == "box" else [],
            "track_id": draw(st.integers(-1, 2**40)),
        }
        wanted = [k for k in order if (k != "bbox" or with_bbox != "none") and (k != "track_id" or with_track)]
        records.append({key: values[key] for key in wanted})
    style = draw(st.sampled_from(["default", "compact", "indent"]))
    if style == "compact":
        text = json.dumps(records, separators=(",", ":"))
    elif style == "indent":
        text = json.dumps(records, indent=2)
    else:
        text = json.dumps(records)
    return text.encode(), k


@settings(max_examples=150, deadline=None)
@given(result_files())
def test_columnar_equals_record_path(tmp_path_factory, case) -> None:
    raw, k = case
    assert _columnar_results(raw) is not None  # the fast path is really taken
    path = tmp_path_factory.mktemp("res") / "results.json"
    path.write_bytes(raw)
    assert_same(read_coco_results(path, k), record_path(raw, k))


def test_real_writer_output_takes_the_fast_path(tmp_path) -> None:
    rng = np.random.default_rng(0)
    records = [
        {
            "image_id": int(i),
            "category_id": 1,
            "keypoints": rng.normal(100, 50, 42).round(3).tolist(),
            "score": float(s),
        }
        for i, s in zip(rng.integers(0, 10**6, 500), rng.uniform(0, 1, 500), strict=True)
    ]
    raw = json.dumps(records).encode()
    columns = _columnar_results(raw)
    assert columns is not None
    assert columns["image_id"].dtype == np.int64 and columns["keypoints"].shape == (500, 42)
    path = tmp_path / "r.json"
    path.write_bytes(raw)
    assert_same(read_coco_results(path, 14), record_path(raw, 14))


BASE = [
    {"image_id": 1, "category_id": 1, "keypoints": [1.5, 2.5, 0.9, 3.0, 4.0, 0.8], "score": 0.7},
    {"image_id": 2, "category_id": 1, "keypoints": [5.5, 6.5, 0.9, 7.0, 8.0, 0.8], "score": 0.6},
    {"image_id": 3, "category_id": 1, "keypoints": [9.5, 1.5, 0.9, 2.0, 3.0, 0.8], "score": 0.5},
]


def variant(change) -> list[dict]:
    records = json.loads(json.dumps(BASE))
    change(records)
    return records


@pytest.mark.parametrize(
    "records",
    [
        pytest.param(variant(lambda r: r.__setitem__(2, dict(reversed(list(r[2].items()))))), id="key-order"),
        pytest.param(variant(lambda r: r[1].__setitem__("id", 5)), id="extra-key"),
        pytest.param(variant(lambda r: r[1].pop("category_id")), id="missing-key"),
        pytest.param(variant(lambda r: [x.__setitem__("file_name", "a b,{c}.jpg") for x in r]), id="string-value"),
        pytest.param(variant(lambda r: [x.__setitem__("extra", {"a": 1}) for x in r]), id="nested-object"),
        pytest.param(variant(lambda r: r[2].__setitem__("image_id", 3.0)), id="float-image-id"),
        pytest.param(variant(lambda r: [x.__setitem__("image_id", float(x["image_id"])) for x in r]), id="float-ids"),
        pytest.param(variant(lambda r: r[1].__setitem__("bbox", [1, 2, 3, 4])), id="bbox-later"),
        pytest.param(variant(lambda r: r[0].__setitem__("flags", [True, False])), id="bools"),
    ],
)
def test_non_uniform_files_go_through_the_record_path(tmp_path, records) -> None:
    raw = json.dumps(records).encode()
    assert _columnar_results(raw) is None
    path = tmp_path / "r.json"
    path.write_bytes(raw)
    assert_same(read_coco_results(path, 2), record_path(raw, 2))


@pytest.mark.parametrize(
    ("raw", "message", "record", "field"),
    [
        (json.dumps(variant(lambda r: r[2]["keypoints"].pop())), "has 5 values, expected 6", 2, "keypoints"),
        (json.dumps(variant(lambda r: r[1].__setitem__("score", None))), "missing", 1, "score"),
        (json.dumps(variant(lambda r: r[1]["keypoints"].__setitem__(4, float("nan")))), "NaN or inf", 1, "keypoints"),
        (json.dumps(variant(lambda r: r[2].__setitem__("score", float("inf")))), "NaN or inf", 2, "score"),
        (json.dumps(variant(lambda r: r[1]["keypoints"].__setitem__(0, "7"))), "non-numeric", 1, "keypoints"),
    ],
)
def test_problems_are_named_by_the_record_path(tmp_path, raw, message, record, field) -> None:
    path = tmp_path / "r.json"
    path.write_text(raw)
    with pytest.raises(OccbenchError) as err:
        read_coco_results(path, 2)
    assert message in str(err.value) and err.value.record == record and err.value.field == field


@pytest.mark.parametrize(
    "raw",
    [
        b'[{"image_id":1,"keypoints":[1,2,3]null,"score":0.5}]',  # junk in a structural position
        b'[{"image_id":1,"keypoints":[1,2,3],"score":0.5}]]',
        b'[{"image_id":1,"keypoints":[1,2,3],"score":0.5},]',
        b'[{"image_id":1,"keypoints":[1,2,3],"score":0.5}{"image_id":2,"keypoints":[1,2,3],"score":0.5}]',
    ],
)
def test_invalid_json_is_never_accepted_by_the_fast_path(tmp_path, raw) -> None:
    assert _columnar_results(raw) is None
    path = tmp_path / "r.json"
    path.write_bytes(raw)
    with pytest.raises(OccbenchError):
        read_coco_results(path)


def test_dict_form_and_empty_list(tmp_path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"annotations": BASE}))
    assert_same(read_coco_results(path, 2), record_path(json.dumps(BASE).encode(), 2))
    path.write_text("[]")
    assert len(read_coco_results(path, 2)) == 0


def test_track_ids_round_trip_through_results_json(tmp_path) -> None:
    from occbench.predictions import Predictions, write_coco_results

    rng = np.random.default_rng(3)
    preds = Predictions(image_id=np.arange(6), keypoints=rng.uniform(0, 50, (6, 2, 3)), score=rng.uniform(0, 1, 6))
    path = tmp_path / "r.json"
    write_coco_results(path, preds)
    assert "track_id" not in json.loads(path.read_text())[0]  # unlinked: plain COCO results
    assert (read_coco_results(path).track_id == -1).all()
    preds.track_id = np.array([4, 4, 7, -1, 9, 2**40])
    write_coco_results(path, preds)
    back = read_coco_results(path)
    assert_same(back, preds)
    assert _columnar_results(path.read_bytes()) is not None


@pytest.mark.parametrize("bad", [1.5, "3", True, None])
def test_bad_track_ids_are_named(tmp_path, bad) -> None:
    records = variant(lambda r: [x.__setitem__("track_id", i) for i, x in enumerate(r)])
    records[2]["track_id"] = bad
    path = tmp_path / "r.json"
    path.write_text(json.dumps(records))
    with pytest.raises(OccbenchError) as err:
        read_coco_results(path, 2)
    assert err.value.record == 2 and err.value.field == "track_id"


@pytest.mark.parametrize("rows_per_group", [7, 50, 1 << 17])
def test_predictions_parquet_round_trips_through_row_groups(tmp_path, monkeypatch, rows_per_group) -> None:
    import pyarrow.parquet as pq

    from occbench import predictions as module
    from occbench.predictions import Predictions, prediction_image_ids, read_predictions, write_predictions

    rng = np.random.default_rng(rows_per_group)
    n, k = 50, 14
    preds = Predictions(
        image_id=rng.integers(0, 10, n),
        keypoints=rng.normal(0, 100, (n, k, 3)),
        score=rng.uniform(0, 1, n),
        box=rng.uniform(0, 50, (n, 4)),
        occluded=rng.integers(-1, 2, (n, k)).astype(np.int8),
        track_id=rng.integers(-1, 5, n),
        metadata={"model": "x"},
    )
    monkeypatch.setattr(module, "PREDICTIONS_ROW_GROUP", rows_per_group)
    path = write_predictions(tmp_path / "p.parquet", preds)
    assert pq.ParquetFile(path).metadata.num_row_groups == -(-n // rows_per_group)
    back = read_predictions(path)
    assert_same(back, preds)
    for rows in (np.array([0, 6, 7, 8, 33, 49]), np.arange(n), np.array([13]), np.zeros(0, np.int64)):
        assert_same(read_predictions(path, rows=rows), preds.select(rows))
    assert np.array_equal(prediction_image_ids(path), preds.image_id)
    empty = read_predictions(write_predictions(tmp_path / "e.parquet", preds.select(np.zeros(0, np.int64))))
    assert len(empty) == 0 and empty.keypoints.shape == (0, k, 3)


@pytest.mark.parametrize("count", [0, 1, 6, 7])
def test_results_json_is_written_in_chunks_that_join_into_one_array(tmp_path, monkeypatch, count) -> None:
    from occbench import predictions as module
    from occbench.predictions import Predictions, write_coco_results

    monkeypatch.setattr(module, "RESULTS_CHUNK", 3)
    rng = np.random.default_rng(count)
    preds = Predictions(
        image_id=rng.integers(0, 5, count),
        keypoints=rng.normal(100, 50, (count, 2, 3)),
        score=rng.uniform(0, 1, count),
        track_id=np.where(np.arange(count) >= 5, 7, -1),  # linked rows only in a later chunk
    )
    write_coco_results(tmp_path / "r.json", preds, category_id=2)
    back = json.loads((tmp_path / "r.json").read_text())
    assert back == preds.to_coco_results(2)
    assert len(back) == count and all(("track_id" in r) == (count > 5) for r in back)
    if count:  # the values round-trip exactly through the reader
        assert_same(read_coco_results(tmp_path / "r.json", 2), read_coco_results(tmp_path / "r.json", 2))
        np.testing.assert_array_equal(read_coco_results(tmp_path / "r.json", 2).keypoints, preds.keypoints)
    preds_nan = preds.select(np.arange(count))
    if count > 4:
        preds_nan.score[4] = np.nan
        with pytest.raises(OccbenchError, match="NaN or inf") as err:
            write_coco_results(tmp_path / "bad.json", preds_nan)
        assert err.value.record == 4 and not (tmp_path / "bad.json").exists()
