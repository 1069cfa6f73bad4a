"""CrowdPose converter (train / val / test / trainval JSON) honouring every trap in SOURCES.md.

- ``num_keypoints`` is kept exactly as the file has it (joints with v>0 among the first 12;
  the CrowdPose protocol ignores a ground truth with num_keypoints == 0).
- Head and neck are only ever v in {0, 1}; there v=1 means "labelled", so it becomes
  ``labeled_unknown``, never ``occluded``. Limb joints with v=1 become ``occluded``.
- There is no ``area`` field: OKS uses bbox_w * bbox_h * 0.53 (``area_convention``
  "bbox_x0.53").
- The category skeleton copied from COCO (1-based, indices up to 17) is replaced by the
  valid 14-joint skeleton, with a warning.
- With ``image_root``, width/height are checked against the image headers; each swapped or
  wrong size is fixed and reported.
- Published crowdIndex values (some above 1) are kept; a recomputed one sits beside them.
- ``iscrowd`` regions are kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from occbench.datasets.cocolike import CocoLikeFile, check_image_files, parse_cocolike, reject_invalid_v, to_split_data
from occbench.datasets.format import SplitData, classes_from_coco_v
from occbench.datasets.store import Dataset, DatasetWriter, converter_provenance
from occbench.errors import OccbenchError
from occbench.skeletons import CROWDPOSE14

SOURCE = "crowdpose"
AREA_FACTOR = 0.53
KNOWN_SPLITS = ("train", "val", "test", "trainval")


def split_name_for(path: Path) -> str:
    """``crowdpose_val.json`` -> ``val``; any other file name -> its stem."""
    stem = path.stem
    for split in KNOWN_SPLITS:
        if stem in (f"crowdpose_{split}", split):
            return split
    return stem


def _find_sources(sources: list[Path]) -> list[Path]:
    files: list[Path] = []
    for src in sources:
        if src.is_dir():
            found = sorted(p for p in src.glob("*.json") if split_name_for(p) in KNOWN_SPLITS)
            if not found:
                raise OccbenchError("no crowdpose_{train,val,test,trainval}.json in folder", file=src)
            files += found
        elif src.is_file():
            files.append(src)
        else:
            raise OccbenchError("file not found", file=src)
    return files


def _skeleton_warning(parsed: CocoLikeFile) -> str | None:
    cats = parsed.categories
    skeleton = cats[0].get("skeleton") if cats else None
    if skeleton is None:
        return None
    k = CROWDPOSE14.num_joints
    valid = all(
        isinstance(e, list) and len(e) == 2 and all(1 <= int(j) <= k for j in e) and e[0] != e[1] for e in skeleton
    )
    if valid and [list(e) for e in skeleton] == CROWDPOSE14.skeleton_one_based():
        return None
    reason = "invalid for 14 joints (COCO's, 1-based up to 17)" if not valid else "differs from the 14-joint skeleton"
    return f"{parsed.path.name}: category skeleton {reason}; replaced by occbench's crowdpose14 skeleton"


def read_crowdpose(
    path: str | Path, image_root: str | Path | None = None, data: dict[str, Any] | None = None
) -> tuple[SplitData, list[str], dict[str, Any]]:
    """Parse one CrowdPose JSON (or its already parsed ``data``) into a unified split, with
    warnings and source metadata."""
    path = Path(path)
    parsed = parse_cocolike(path, expected_joints=CROWDPOSE14.num_joints, data=data)
    warnings: list[str] = []
    v = reject_invalid_v(parsed)
    visibility = classes_from_coco_v(v, CROWDPOSE14.name)

    num_keypoints = parsed.num_keypoints
    if (num_keypoints < 0).any():
        computed = (v[:, :12] > 0).sum(axis=1)
        num_keypoints = np.where(num_keypoints < 0, computed, num_keypoints)
        warnings.append(
            f"{path.name}: {(parsed.num_keypoints < 0).sum()} annotations lack num_keypoints; "
            "computed with CrowdPose's rule (v>0 among the first 12 joints)"
        )
    if np.isnan(parsed.crowd_index).any():
        warnings.append(f"{path.name}: {int(np.isnan(parsed.crowd_index).sum())} images lack crowdIndex")
    skeleton_warning = _skeleton_warning(parsed)
    if skeleton_warning:
        warnings.append(skeleton_warning)

    if image_root is not None:
        for index, w, h in check_image_files(parsed, Path(image_root)):
            old = (int(parsed.width[index]), int(parsed.height[index]))
            kind = "swapped" if old == (h, w) else "wrong"
            warnings.append(
                f"{path.name}: image {parsed.image_id[index]}: width/height {old[0]}x{old[1]} {kind}; "
                f"fixed to {w}x{h} from the image header"
            )
            parsed.width[index], parsed.height[index] = w, h

    area = parsed.bbox[:, 2] * parsed.bbox[:, 3] * AREA_FACTOR
    data = to_split_data(parsed, visibility, area, num_keypoints)
    meta = {k: v for k, v in parsed.top_level.items() if k != "occbench"}
    if meta.get("categories"):
        meta["categories"] = [dict(c) for c in meta["categories"]]
        meta["categories"][0]["skeleton"] = CROWDPOSE14.skeleton_one_based()
    return data, warnings, meta


def convert_crowdpose(
    sources: list[Path],
    out_dir: Path,
    *,
    image_root: Path | None = None,
    split: str | None = None,
    name: str = "crowdpose",
    overwrite: bool = False,
) -> Dataset:
    """Convert CrowdPose JSON files (or a folder of them) into one unified dataset."""
    files = _find_sources(sources)
    if split is not None and len(files) != 1:
        raise OccbenchError("--split names the split of a single file; give one file", file=", ".join(map(str, files)))
    if image_root is not None and not Path(image_root).is_dir():
        raise OccbenchError("image root is not a folder", file=image_root)
    writer = DatasetWriter(out_dir, CROWDPOSE14.name, overwrite=overwrite)
    warnings: list[str] = []
    splits_meta: dict[str, Any] = {}
    try:
        for file in files:
            split_name = split or split_name_for(file)
            if split_name in splits_meta:
                raise OccbenchError(f"two files map to split {split_name!r}", file=file)
            data, file_warnings, meta = read_crowdpose(file, image_root)
            writer.write_part(split_name, "part-00000", data)
            warnings += file_warnings
            splits_meta[split_name] = meta
        return writer.finalize(
            name=name,
            source=SOURCE,
            area_convention="bbox_x0.53",
            image_root=image_root,
            provenance=converter_provenance(__name__, files, {"image_root": image_root, "split": split}),
            warnings=warnings,
            source_meta={"splits": splits_meta},
        )
    except BaseException:
        writer.abort()
        raise
