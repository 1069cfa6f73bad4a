"""The unified format on disk: exact round trips, atomic publishing, resume, validation."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pandas as pd
import pytest

from occbench.datasets.format import SplitData, make_images_table, make_instances_table
from occbench.datasets.store import DatasetWriter, open_dataset, write_dataset
from occbench.datasets.validate import check_split, validate_dataset
from occbench.errors import OccbenchError
from tests.datasets.helpers import assert_splits_equal


def small_split(offset: int = 0, n_images: int = 3, per_image: int = 2, with_3d: bool = False, seed: int = 0):
    rng = np.random.default_rng(seed + offset)
    img_ids = np.arange(n_images) + offset
    n = n_images * per_image
    images = make_images_table(
        {
            "image_id": img_ids,
            "file_name": [f"{i}.jpg" for i in img_ids],
            "width": np.full(n_images, 640),
            "height": np.full(n_images, 480),
            "crowd_index": rng.uniform(0, 1.5, n_images),
            "sequence": ["seq_1"] * n_images,
            "frame": img_ids + 1,
            "video": ["videos/test/seq_1.mp4"] * n_images,
            "video_frame": img_ids,
        }
    )
    instances = make_instances_table(
        {
            "instance_id": np.arange(n) + offset * 100,
            "image_id": np.repeat(img_ids, per_image),
            "bbox_x": rng.uniform(0, 100, n),
            "bbox_y": rng.uniform(0, 100, n),
            "bbox_w": rng.uniform(1, 100, n),
            "bbox_h": rng.uniform(1, 100, n),
            "area": rng.uniform(1, 1e4, n),
            "num_keypoints": rng.integers(0, 14, n),
            "track_id": np.arange(n),
            "extra": ['{"a":1}'] * n,
        }
    )
    return SplitData(
        images,
        instances,
        rng.uniform(-50, 700, (n, 14, 2)),
        rng.integers(0, 6, (n, 14)).astype(np.int8),
        rng.normal(size=(n, 14, 3)) if with_3d else None,
    )


def test_write_read_round_trip_is_exact(tmp_path) -> None:
    data = small_split(with_3d=True)
    ds = write_dataset(tmp_path / "ds", "crowdpose14", {"val": data}, name="t", source="test", area_convention="bbox")
    back = open_dataset(tmp_path / "ds")
    assert back.manifest.splits["val"].instances == len(data)
    assert back.manifest.content_hash == ds.manifest.content_hash
    assert_splits_equal(back.read_split("val"), data)
    assert validate_dataset(tmp_path / "ds") == []


def test_parts_resume_and_publish(tmp_path) -> None:
    out = tmp_path / "ds"
    writer = DatasetWriter(out, "crowdpose14")
    writer.write_part("test", "seq_000001", small_split(0))
    assert not out.exists() and not (out.parent / "ds.partial" / "manifest.json").exists()
    # A "killed" run: a new writer with resume keeps the finished part.
    # It was killed while writing a part: atomic_path's temporary file is left behind.
    stale = out.parent / "ds.partial" / "test" / "instances" / ".seq_000002.parquet.x1y2.tmp"
    stale.write_bytes(b"half a parquet file")
    writer = DatasetWriter(out, "crowdpose14", resume=True)
    assert writer.has_part("test", "seq_000001") and not writer.has_part("test", "seq_000002")
    writer.write_part("test", "seq_000002", small_split(10))
    ds = writer.finalize(name="t", source="test", area_convention="bbox")
    assert not list(out.rglob("*.tmp"))  # not published with the dataset
    assert ds.manifest.splits["test"].parts == ["seq_000001", "seq_000002"]
    assert ds.manifest.splits["test"].images == 6
    assert not (tmp_path / "ds.partial").exists()
    parts = list(open_dataset(out).iter_parts("test"))
    assert [p for p, _ in parts] == ["seq_000001", "seq_000002"]


def test_duplicate_ids_across_parts_refused(tmp_path) -> None:
    writer = DatasetWriter(tmp_path / "ds", "crowdpose14")
    writer.write_part("val", "a", small_split(0))
    writer.write_part("val", "b", small_split(0))
    with pytest.raises(OccbenchError, match="duplicate id"):
        writer.finalize(name="t", source="test", area_convention="bbox")
    assert not (tmp_path / "ds").exists()


def test_unfinished_folder_is_not_a_dataset(tmp_path) -> None:
    writer = DatasetWriter(tmp_path / "ds", "crowdpose14")
    writer.write_part("val", "a", small_split(0))
    with pytest.raises(OccbenchError, match="unfinished conversion"):
        open_dataset(tmp_path / "ds")


def test_existing_output_needs_overwrite(tmp_path) -> None:
    write_dataset(tmp_path / "ds", "crowdpose14", {"val": small_split()}, name="t", source="s", area_convention="bbox")
    with pytest.raises(OccbenchError, match="overwrite"):
        write_dataset(
            tmp_path / "ds", "crowdpose14", {"val": small_split()}, name="t", source="s", area_convention="bbox"
        )
    write_dataset(
        tmp_path / "ds",
        "crowdpose14",
        {"val": small_split(5)},
        overwrite=True,
        name="t",
        source="s",
        area_convention="bbox",
    )
    assert open_dataset(tmp_path / "ds").read_split("val").images["image_id"].min() == 5


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.instances.__setitem__("instance_id", 0), "instance_id"),
        (lambda d: d.images.__setitem__("image_id", 1), "image_id"),
        (lambda d: d.instances.loc.__setitem__((0, "image_id"), 999), "image_id"),
        (lambda d: d.instances.loc.__setitem__((1, "bbox_w"), -1.0), "bbox_w"),
        (lambda d: d.instances.loc.__setitem__((1, "area"), np.nan), "area"),
        (lambda d: d.keypoints.__setitem__((0, 3, 0), np.inf), "keypoints"),
        (lambda d: d.visibility.__setitem__((0, 0), 9), "visibility"),
        (lambda d: d.images.loc.__setitem__((0, "file_name"), "../etc/passwd"), "file_name"),
        (lambda d: d.images.loc.__setitem__((0, "width"), 0), "width"),
        (lambda d: d.instances.loc.__setitem__((0, "occlusion_ratio"), 1.5), "occlusion_ratio"),
    ],
)
def test_validator_names_the_field(tmp_path, mutate, field) -> None:
    data = small_split()
    mutate(data)
    problems = check_split(data, 14, "val/part")
    assert problems and problems[0].field == field
    with pytest.raises(OccbenchError) as err:
        write_dataset(tmp_path / "ds", "crowdpose14", {"val": data}, name="t", source="s", area_convention="bbox")
    assert err.value.field == field
    assert not (tmp_path / "ds").exists() and not (tmp_path / "ds.partial").exists()


def test_validate_detects_tampering(tmp_path) -> None:
    write_dataset(tmp_path / "ds", "crowdpose14", {"val": small_split()}, name="t", source="s", area_convention="bbox")
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    file = next(iter(manifest["splits"]["val"]["files"]))
    (tmp_path / "ds" / file).write_bytes(b"garbage")
    problems = validate_dataset(tmp_path / "ds")
    assert [p.field for p in problems] == ["sha256"]


UNSAFE_CASES = [
    ("a/b.jpg", False),
    ("images/x..y.jpg", False),
    ("...", False),
    ("a/...", False),
    ("", True),
    ("/etc/passwd", True),
    ("\\\\server\\share", True),
    ("C:x.jpg", True),
    ("..", True),
    ("../x", True),
    ("a/../b", True),
    ("a\\..\\b", True),
    ("a/..", True),
]


@pytest.mark.parametrize("safe_neighbours", [0, 1, 3])
def test_unsafe_relative_paths_names_exactly_the_escaping_names(safe_neighbours) -> None:
    from occbench.datasets.validate import _UNSAFE_PATH, unsafe_relative_paths

    for name, unsafe in UNSAFE_CASES:
        names = ["ok/1.jpg"] * safe_neighbours + [name] + ["ok/2.jpg"] * safe_neighbours
        expected = [False] * safe_neighbours + [unsafe] + [False] * safe_neighbours
        assert unsafe_relative_paths(names).tolist() == expected, name
    # Every case at once, and the cases the one-search shortcut must leave to the slow path.
    assert unsafe_relative_paths([n for n, _ in UNSAFE_CASES]).tolist() == [u for _, u in UNSAFE_CASES]
    odd = ["a.jpg", None, 7, "x\n/abs", "b\n..", "/c\nd", "..\nd"]
    expected = [not isinstance(n, str) or bool(re.search(_UNSAFE_PATH, n)) for n in odd]
    assert unsafe_relative_paths(odd).tolist() == expected == [False, True, True, False, False, True, False]
    assert unsafe_relative_paths([]).tolist() == []


def test_duplicate_ids_are_reported_after_their_first_occurrence() -> None:
    from occbench.datasets.validate import _duplicated

    rng = np.random.default_rng(0)
    for size in (0, 1, 2, 50):
        values = rng.integers(0, 10, size)
        assert _duplicated(values).tolist() == pd.Series(values).duplicated(keep="first").tolist()


def test_class_counts_and_occlusion_ratios_count_each_joint_once() -> None:
    from occbench.datasets.format import class_counts, occlusion_ratios
    from occbench.skeletons import Visibility

    rng = np.random.default_rng(1)
    for low in (0, -2):  # codes outside the classes are not counted
        vis = rng.integers(low, len(Visibility) + 2, (300, 14)).astype(np.int8)
        expected = np.stack([(vis == c).sum(axis=1) for c in range(len(Visibility))], axis=1)
        assert np.array_equal(class_counts(vis), expected)
        assert np.array_equal(class_counts(vis.T.copy().T), expected)  # any memory layout
    vis = np.array([[1, 2, 3, 0], [4, 5, 0, 0], [2, 2, 1, 4]], np.int8)
    occ, self_occ = occlusion_ratios(vis)
    np.testing.assert_array_equal(occ, [1 / 3, np.nan, 2 / 3])
    np.testing.assert_array_equal(self_occ, [1 / 3, np.nan, 0.0])
    assert class_counts(np.zeros((0, 14), np.int8)).shape == (0, len(Visibility))


def test_read_split_fills_one_array_per_column_from_every_part(tmp_path) -> None:
    from occbench.datasets.format import concat_splits

    writer = DatasetWriter(tmp_path / "ds", "crowdpose14")
    parts = [small_split(offset, n_images=2 + offset // 10, with_3d=True) for offset in (0, 10, 20)]
    for i, part in enumerate(parts):
        writer.write_part("test", f"seq_{i}", part)
    ds = writer.finalize(name="t", source="test", area_convention="bbox")
    assert_splits_equal(ds.read_split("test"), concat_splits(parts))
    without = ds.read_split("test", with_3d=False)
    assert without.keypoints_3d is None
    assert_splits_equal(without, dataclasses.replace(concat_splits(parts), keypoints_3d=None))
    assert ds.read_part("test", "seq_1", with_3d=False).keypoints_3d is None

    # Parts that disagree on carrying 3D joints are refused, naming the first that differs.
    mixed = DatasetWriter(tmp_path / "mixed", "crowdpose14")
    mixed.write_part("test", "seq_0", small_split(0, with_3d=True))
    mixed.write_part("test", "seq_1", small_split(10, with_3d=False))
    with pytest.raises(OccbenchError, match="parts disagree on whether they carry 3D joints") as err:
        mixed.finalize(name="t", source="test", area_convention="bbox").read_split("test")
    assert err.value.record == "seq_1"
