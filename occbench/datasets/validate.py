"""Checks that a unified dataset is well formed: schema, ranges, references, duplicate ids.

``check_split`` looks at one in-memory split (or part) and returns every problem it finds,
each naming the record and the field. The writer refuses to publish data with problems;
``validate_dataset`` re-checks a published folder, including the manifest's content hashes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from occbench.datasets.format import IMAGE_COLUMNS, INSTANCE_COLUMNS, SplitData
from occbench.skeletons import Visibility

MAX_PROBLEMS_PER_CHECK = 5


@dataclass(frozen=True)
class Problem:
    where: str  # e.g. "val/part-00000" or a file path
    record: Any  # image_id / instance_id or None
    field: str
    message: str

    def __str__(self) -> str:
        rec = "" if self.record is None else f", record {self.record}"
        return f"{self.where}{rec}, field '{self.field}': {self.message}"


_UNSAFE_PATH = r"^$|^[/\\]|^[A-Za-z]:|(?:^|[/\\])\.\.(?:[/\\]|$)"
_UNSAFE_LINE = re.compile(_UNSAFE_PATH, re.MULTILINE)


def unsafe_relative_paths(names: Any) -> np.ndarray:
    """True where a name is empty, absolute (POSIX, Windows drive or UNC) or climbs out with '..'."""
    names = np.asarray(names, dtype=object).reshape(-1)
    # The usual case, every name a safe one-line string, is settled by one search over all the
    # names joined by line breaks (``^``/``$`` match at each name's start and end).
    listed = names.tolist()
    try:
        joined = "\n".join(listed)  # a TypeError if any name is not a string
    except TypeError:
        joined = None
    one_line = joined is not None and joined.count("\n") == max(len(listed) - 1, 0)
    if one_line and not (listed and _UNSAFE_LINE.search(joined)):
        return np.zeros(len(names), dtype=bool)
    series = pd.Series(names, dtype=object)
    is_str = series.map(type).eq(str).to_numpy()
    unsafe = ~is_str
    if is_str.any():
        unsafe[is_str] = series[is_str].astype(str).str.contains(_UNSAFE_PATH, regex=True).to_numpy()
    return unsafe


def unsafe_relative_path(name: str) -> bool:
    """True if ``name`` is absolute or climbs out of its root with '..'."""
    return bool(unsafe_relative_paths([name])[0])


def check_split(data: SplitData, num_joints: int, where: str) -> list[Problem]:
    problems: list[Problem] = []
    images, instances = data.images, data.instances

    def report(mask: np.ndarray, ids: np.ndarray, field: str, message: str) -> None:
        if not mask.any():
            return
        for rec in ids[mask][:MAX_PROBLEMS_PER_CHECK]:
            problems.append(Problem(where, _plain(rec), field, message))

    for table, spec, label in ((images, IMAGE_COLUMNS, "images"), (instances, INSTANCE_COLUMNS, "instances")):
        missing = [c for c in spec if c not in table.columns]
        if missing:
            problems.append(Problem(where, None, ",".join(missing), f"{label} table lacks columns"))
    if problems:
        return problems

    n = len(instances)
    if data.keypoints.shape != (n, num_joints, 2):
        problems.append(
            Problem(where, None, "keypoints", f"shape {data.keypoints.shape}, expected ({n}, {num_joints}, 2)")
        )
    if data.visibility.shape != (n, num_joints):
        problems.append(
            Problem(where, None, "visibility", f"shape {data.visibility.shape}, expected ({n}, {num_joints})")
        )
    if data.keypoints_3d is not None and data.keypoints_3d.shape != (n, num_joints, 3):
        problems.append(Problem(where, None, "keypoints_3d", f"shape {data.keypoints_3d.shape}"))
    if problems:
        return problems

    # Plain numpy columns: each check is a few microseconds of numpy, not a pandas round trip
    # (this runs on every chunk a converter writes).
    image_ids, instance_ids = images["image_id"].to_numpy(), instances["instance_id"].to_numpy()
    column = {name: instances[name].to_numpy() for name in _INSTANCE_NUMBERS}
    report(_duplicated(image_ids), image_ids, "image_id", "duplicate image id")
    report(_duplicated(instance_ids), instance_ids, "instance_id", "duplicate instance id")
    report(~np.isin(instances["image_id"].to_numpy(), image_ids), instance_ids, "image_id", "refers to a missing image")
    report(images["width"].to_numpy() <= 0, image_ids, "width", "must be positive")
    report(images["height"].to_numpy() <= 0, image_ids, "height", "must be positive")
    escapes = unsafe_relative_paths(images["file_name"].to_numpy())
    report(escapes, image_ids, "file_name", "must be a relative path inside the image root")
    for col in ("bbox_x", "bbox_y", "bbox_w", "bbox_h", "area"):
        report(~np.isfinite(column[col]), instance_ids, col, "must be finite")
    for col in ("bbox_w", "bbox_h", "area"):
        report(column[col] < 0, instance_ids, col, "must not be negative")
    nk = column["num_keypoints"]
    report((nk < 0) | (nk > num_joints), instance_ids, "num_keypoints", f"must be within 0..{num_joints}")
    for col in ("occlusion_ratio", "self_occlusion_ratio"):
        v = column[col]
        report((v < 0) | (v > 1), instance_ids, col, "must be within [0, 1] or NaN")
    if n:
        report(~np.isfinite(data.keypoints).all(axis=(1, 2)), instance_ids, "keypoints", "must be finite")
        bad_vis = (data.visibility < 0) | (data.visibility > max(Visibility))
        report(bad_vis.any(axis=1), instance_ids, "visibility", "unknown visibility class")
        if data.keypoints_3d is not None:
            report(~np.isfinite(data.keypoints_3d).all(axis=(1, 2)), instance_ids, "keypoints_3d", "must be finite")
    return problems


_INSTANCE_NUMBERS = (
    "bbox_x", "bbox_y", "bbox_w", "bbox_h", "area", "num_keypoints", "occlusion_ratio", "self_occlusion_ratio"
)  # fmt: skip


def _duplicated(values: np.ndarray) -> np.ndarray:
    """True for every occurrence of a value after its first (pandas' ``duplicated(keep="first")``)."""
    if len(values) < 2:
        return np.zeros(len(values), dtype=bool)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    repeat = np.zeros(len(values), dtype=bool)
    repeat[order[1:]] = ordered[1:] == ordered[:-1]
    return repeat


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def validate_dataset(path: str | Path) -> list[Problem]:
    """Every problem in a published dataset folder (empty list: valid)."""
    from occbench.datasets.store import open_dataset
    from occbench.fileio import sha256_file

    ds = open_dataset(path)
    problems: list[Problem] = []
    for split, info in ds.manifest.splits.items():
        for rel, digest in info.files.items():
            file = ds.root / rel
            if not file.exists():
                problems.append(Problem(str(file), None, "file", "listed in the manifest but missing"))
            elif sha256_file(file) != digest:
                problems.append(Problem(str(file), None, "sha256", "content differs from the manifest's hash"))
        if problems:
            continue
        data = ds.read_split(split)
        problems += check_split(data, ds.schema.num_joints, f"{ds.root}/{split}")
        if len(data.images) != info.images or len(data.instances) != info.instances:
            problems.append(Problem(f"{ds.root}/{split}", None, "splits", "counts differ from the manifest"))
    return problems
