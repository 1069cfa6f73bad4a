"""Every kind of bad input: an error naming file, record and field, exit 1, and no output left."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from occbench.cli import app
from tests.datasets.helpers import write_json


def crowdpose_doc():
    kp = [10.0, 20.0, 2] * 12 + [0, 0, 0, 15.0, 15.0, 1]
    return {
        "images": [
            {"id": 1, "file_name": "1.jpg", "width": 64, "height": 48, "crowdIndex": 0.1},
            {"id": 2, "file_name": "2.jpg", "width": 64, "height": 48, "crowdIndex": 0.5},
        ],
        "annotations": [
            {
                "id": 10,
                "image_id": 1,
                "category_id": 1,
                "bbox": [1, 2, 30, 40],
                "iscrowd": 0,
                "keypoints": list(kp),
                "num_keypoints": 12,
            },
            {
                "id": 11,
                "image_id": 2,
                "category_id": 1,
                "bbox": [1, 2, 30, 40],
                "iscrowd": 0,
                "keypoints": list(kp),
                "num_keypoints": 12,
            },
        ],
        "categories": [{"id": 1, "name": "person", "keypoints": [str(i) for i in range(14)]}],
    }


def run_convert(tmp_path, doc_text, *extra):
    src = tmp_path / "crowdpose_val.json"
    src.write_text(doc_text)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["convert", "crowdpose", str(src), "--out", str(out), *extra])
    return result, out


def mutated(mutate):
    doc = crowdpose_doc()
    mutate(doc)
    return json.dumps(doc)


CASES = {
    "malformed JSON": (lambda: '{"images": [', "malformed JSON", None, None),
    "keypoints of wrong length": (
        lambda: mutated(lambda d: d["annotations"][1]["keypoints"].pop()),
        "has 41 values",
        "annotation 11",
        "keypoints",
    ),
    "NaN coordinate": (
        lambda: mutated(lambda d: d["annotations"][0]["keypoints"].__setitem__(3, float("nan"))),
        "NaN or inf",
        "annotation 10",
        "keypoints",
    ),
    "inf coordinate": (
        lambda: mutated(lambda d: d["annotations"][1]["keypoints"].__setitem__(0, float("inf"))),
        "NaN or inf",
        "annotation 11",
        "keypoints",
    ),
    "negative box size": (
        lambda: mutated(lambda d: d["annotations"][1]["bbox"].__setitem__(2, -3)),
        "negative box size",
        "annotation 11",
        "bbox",
    ),
    "duplicate annotation ids": (
        lambda: mutated(lambda d: d["annotations"][1].__setitem__("id", 10)),
        "duplicate id",
        "annotation 10",
        "id",
    ),
    "duplicate image ids": (
        lambda: mutated(lambda d: d["images"][1].__setitem__("id", 1)),
        "duplicate id",
        "image 1",
        "id",
    ),
    "annotation pointing to a missing image": (
        lambda: mutated(lambda d: d["annotations"][1].__setitem__("image_id", 7)),
        "not in 'images'",
        "annotation 11",
        "image_id",
    ),
    "file_name escaping the root": (
        lambda: mutated(lambda d: d["images"][0].__setitem__("file_name", "../../etc/passwd")),
        "relative path inside the image root",
        "image 1",
        "file_name",
    ),
    "invalid visibility flag": (
        lambda: mutated(lambda d: d["annotations"][0]["keypoints"].__setitem__(2, 3)),
        "not 0, 1 or 2",
        "annotation 10",
        "keypoints",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_names_file_record_field(tmp_path, case) -> None:
    make_text, message, record, field = CASES[case]
    result, out = run_convert(tmp_path, make_text())
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "crowdpose_val.json" in text and message in text
    if record:
        assert f"record {record}" in text
    if field:
        assert f"field '{field}'" in text
    assert not out.exists() and not (tmp_path / "out.partial").exists()
    assert "Traceback" not in result.output


def test_image_root_with_missing_file(tmp_path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    from PIL import Image

    Image.new("RGB", (64, 48)).save(images / "1.jpg")
    result, out = run_convert(tmp_path, json.dumps(crowdpose_doc()), "--images", str(images))
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "image file not found" in text and "record image 2" in text and "field 'file_name'" in text
    assert not out.exists()


def test_good_input_converts(tmp_path) -> None:
    result, out = run_convert(tmp_path, json.dumps(crowdpose_doc()))
    assert result.exit_code == 0, result.output
    assert (out / "manifest.json").exists()
    again = CliRunner().invoke(app, ["convert", "crowdpose", str(tmp_path / "crowdpose_val.json"), "--out", str(out)])
    assert again.exit_code == 1 and "overwrite" in again.output


def test_ochuman_bad_input(tmp_path) -> None:
    doc = {"keypoint_names": ["nose"], "images": []}
    src = write_json(tmp_path / "o.json", doc)
    result = CliRunner().invoke(app, ["convert", "ochuman", str(src), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "keypoint_names" in result.output
