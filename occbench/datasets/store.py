"""Reading and writing unified dataset folders (Parquet parts plus a manifest).

``DatasetWriter`` writes parts into ``DIR.partial`` (each part atomically, so a killed
conversion resumes where it stopped) and publishes the folder with one rename once the
manifest is written. A folder without ``manifest.json`` is never read as a dataset.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from occbench import __version__
from occbench.datasets.format import (
    FORMAT_NAME,
    IMAGE_COLUMNS,
    INSTANCE_COLUMNS,
    KEYPOINTS_3D_COLUMN,
    KEYPOINTS_COLUMN,
    MANIFEST_NAME,
    VISIBILITY_COLUMN,
    Manifest,
    SplitData,
    SplitInfo,
    empty_split,
)
from occbench.datasets.validate import check_split, unsafe_relative_path
from occbench.errors import OccbenchError
from occbench.fileio import atomic_path, replace_dir, sha256_file, write_text_atomic
from occbench.skeletons import JointSchema, Visibility, get_schema

# Dictionary encoding buys nothing on float joint columns and costs about 40% of write time.
# zstd level 2: measured on a JTA part (36k people, 26 MB of columns) 12.30 MB in 136 ms, against
# 12.24 MB in 181 ms at level 3 and 19.1 MB at level 1.
PARQUET_OPTIONS: dict[str, Any] = {"compression": "zstd", "compression_level": 2, "use_dictionary": False}


def _images_to_arrow(images: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(
        images[list(IMAGE_COLUMNS)], schema=pa.schema(IMAGE_COLUMNS), preserve_index=False, nthreads=1
    )


def instances_to_arrow(data: SplitData) -> pa.Table:
    """A part's instances table as written to Parquet (scalars, then the joint lists)."""
    k = data.num_joints
    table = pa.Table.from_pandas(
        data.instances[list(INSTANCE_COLUMNS)], schema=pa.schema(INSTANCE_COLUMNS), preserve_index=False, nthreads=1
    )
    kp = pa.FixedSizeListArray.from_arrays(pa.array(data.keypoints.reshape(-1), pa.float64()), 2 * k)
    vis = pa.FixedSizeListArray.from_arrays(pa.array(data.visibility.reshape(-1).astype(np.int8), pa.int8()), k)
    table = table.append_column(KEYPOINTS_COLUMN, kp).append_column(VISIBILITY_COLUMN, vis)
    if data.keypoints_3d is not None:
        kp3 = pa.FixedSizeListArray.from_arrays(pa.array(data.keypoints_3d.reshape(-1), pa.float64()), 3 * k)
        table = table.append_column(KEYPOINTS_3D_COLUMN, kp3)
    return table


def _fixed_list_to_numpy(column: pa.ChunkedArray, dtype: Any) -> np.ndarray:
    if column.num_chunks == 0:
        return np.zeros(0, dtype=dtype)
    return np.concatenate([chunk.flatten().to_numpy(zero_copy_only=False) for chunk in column.chunks]).astype(
        dtype, copy=False
    )


def _instances_from_arrow(table: pa.Table, num_joints: int) -> SplitData:
    k = num_joints
    n = table.num_rows
    keypoints = _fixed_list_to_numpy(table.column(KEYPOINTS_COLUMN), np.float64).reshape(n, k, 2)
    visibility = _fixed_list_to_numpy(table.column(VISIBILITY_COLUMN), np.int8).reshape(n, k)
    kp3 = None
    if KEYPOINTS_3D_COLUMN in table.column_names:
        kp3 = _fixed_list_to_numpy(table.column(KEYPOINTS_3D_COLUMN), np.float64).reshape(n, k, 3)
    scalars = table.select(list(INSTANCE_COLUMNS)).to_pandas()
    return SplitData(
        images=pd.DataFrame(), instances=scalars, keypoints=keypoints, visibility=visibility, keypoints_3d=kp3
    )


def _read_images(path: Path) -> pd.DataFrame:
    return pq.read_table(path).select(list(IMAGE_COLUMNS)).to_pandas()


@dataclass(frozen=True)
class _PartSummary:
    image_ids: np.ndarray
    instance_ids: np.ndarray
    crowd: int
    with_keypoints: int
    visibility_counts: np.ndarray


@dataclass
class Dataset:
    """A published dataset folder."""

    root: Path
    manifest: Manifest

    @property
    def schema(self) -> JointSchema:
        return get_schema(self.manifest.schema)

    @property
    def splits(self) -> list[str]:
        return list(self.manifest.splits)

    @property
    def manifest_hash(self) -> str:
        return hashlib.sha256((self.root / MANIFEST_NAME).read_bytes()).hexdigest()

    def _check_split(self, split: str) -> SplitInfo:
        if split not in self.manifest.splits:
            raise OccbenchError(
                f"no split {split!r}; this dataset has {', '.join(self.manifest.splits) or 'none'}",
                file=self.root / MANIFEST_NAME,
                field="splits",
            )
        return self.manifest.splits[split]

    def part_names(self, split: str) -> list[str]:
        return list(self._check_split(split).parts)

    def read_images(self, split: str) -> pd.DataFrame:
        parts = self.part_names(split)
        frames = [_read_images(self.root / split / "images" / f"{p}.parquet") for p in parts]
        return pd.concat(frames, ignore_index=True) if frames else empty_split(self.schema.num_joints).images

    def read_part(self, split: str, part: str, *, with_3d: bool = True) -> SplitData:
        """One part's tables; ``with_3d=False`` leaves out the 3D joints (JTA's largest column)."""
        path = self.root / split / "instances" / f"{part}.parquet"
        names = pq.read_schema(path).names
        columns = None if with_3d else [c for c in names if c != KEYPOINTS_3D_COLUMN]
        data = _instances_from_arrow(pq.read_table(path, columns=columns), self.schema.num_joints)
        data.images = _read_images(self.root / split / "images" / f"{part}.parquet")
        return data

    def part_sizes(self, split: str) -> list[int]:
        """Instances per part, in ``part_names`` order (from the Parquet footers: no data read)."""
        return self._row_counts(split, self.part_names(split))

    def _row_counts(self, split: str, parts: list[str]) -> list[int]:
        folder = self.root / split / "instances"
        return [pq.read_metadata(folder / f"{part}.parquet").num_rows for part in parts]

    def iter_parts(self, split: str, *, with_3d: bool = True) -> Iterator[tuple[str, SplitData]]:
        for part in self.part_names(split):
            yield part, self.read_part(split, part, with_3d=with_3d)

    def read_split(self, split: str, *, with_3d: bool = True) -> SplitData:
        """The whole split (see ``read_parts``)."""
        return self.read_parts(split, self.part_names(split), with_3d=with_3d)

    def read_parts(self, split: str, parts: list[str], *, with_3d: bool = True) -> SplitData:
        """Several parts of a split as one. Each part's joints are copied into arrays sized once
        (row counts from the Parquet footers), so reading peaks at the result plus one part, not
        at twice the result as concatenating the parts would (full JTA: ~10 GB less)."""
        if not parts:
            return empty_split(self.schema.num_joints)
        counts = self._row_counts(split, parts)
        k, total = self.schema.num_joints, sum(counts)
        keypoints = np.empty((total, k, 2))
        visibility = np.empty((total, k), dtype=np.int8)
        keypoints_3d: np.ndarray | None = None
        images, instances = [], []
        start = 0
        for index, (part, count) in enumerate(zip(parts, counts, strict=True)):
            data = self.read_part(split, part, with_3d=with_3d)
            if index == 0 and data.keypoints_3d is not None:
                keypoints_3d = np.empty((total, k, 3))
            if (data.keypoints_3d is not None) != (keypoints_3d is not None):
                raise OccbenchError(
                    "parts disagree on whether they carry 3D joints", file=self.root / split, record=part
                )
            end = start + count
            keypoints[start:end], visibility[start:end] = data.keypoints, data.visibility
            if keypoints_3d is not None:
                keypoints_3d[start:end] = data.keypoints_3d
            images.append(data.images)
            instances.append(data.instances)
            start = end
        return SplitData(
            images=pd.concat(images, ignore_index=True),
            instances=pd.concat(instances, ignore_index=True),
            keypoints=keypoints,
            visibility=visibility,
            keypoints_3d=keypoints_3d,
        )

    def image_root(self, override: str | Path | None = None) -> Path | None:
        root = override if override is not None else self.manifest.image_root
        if root is None:
            return None
        root = Path(root)
        return root if root.is_absolute() else (self.root / root)

    def video_root(self, override: str | Path | None = None) -> Path | None:
        root = override if override is not None else self.manifest.video_root
        if root is None:
            return None
        root = Path(root)
        return root if root.is_absolute() else (self.root / root)

    def image_path(self, file_name: str, image_root: str | Path | None = None) -> Path:
        """The image file for ``file_name``, refusing names that escape the image root."""
        root = self.image_root(image_root)
        if root is None:
            raise OccbenchError(
                "dataset has no image root; pass one", file=self.root / MANIFEST_NAME, field="image_root"
            )
        if unsafe_relative_path(file_name):
            raise OccbenchError("file name escapes the image root", file=self.root, record=file_name, field="file_name")
        return root / file_name


def open_dataset(path: str | Path) -> Dataset:
    root = Path(path)
    manifest_file = root / MANIFEST_NAME
    if not manifest_file.exists():
        hint = ""
        if root.with_name(root.name + ".partial").exists():
            hint = f" (an unfinished conversion is in {root.name}.partial; re-run it with --resume)"
        raise OccbenchError(f"not an occbench dataset: no {MANIFEST_NAME}{hint}", file=root)
    try:
        raw = json.loads(manifest_file.read_text())
    except json.JSONDecodeError as exc:
        raise OccbenchError(f"malformed JSON: {exc}", file=manifest_file) from None
    if raw.get("format") != FORMAT_NAME:
        raise OccbenchError(
            f"not an occbench manifest (format={raw.get('format')!r})", file=manifest_file, field="format"
        )
    return Dataset(root=root, manifest=Manifest.from_dict(raw))


class DatasetWriter:
    """Builds a dataset folder part by part and publishes it atomically.

    Usage::

        writer = DatasetWriter(out, "crowdpose14")
        writer.write_part("val", "part-00000", data)
        writer.finalize(name=..., source=..., area_convention=...)
    """

    def __init__(self, out_dir: str | Path, schema: str, *, overwrite: bool = False, resume: bool = False) -> None:
        self.out_dir = Path(out_dir)
        self.schema = get_schema(schema)
        self.staging = self.out_dir.with_name(self.out_dir.name + ".partial")
        if self.out_dir.exists() and not overwrite:
            raise OccbenchError("output exists; pass --overwrite to replace it", file=self.out_dir)
        if self.staging.exists() and not resume:
            shutil.rmtree(self.staging)
        self.staging.mkdir(parents=True, exist_ok=True)

    def _part_file(self, split: str, table: str, part: str) -> Path:
        return self.staging / split / table / f"{part}.parquet"

    def has_part(self, split: str, part: str) -> bool:
        # Images are written last, so their presence means the whole part is there.
        return self._part_file(split, "images", part).exists() and self._part_file(split, "instances", part).exists()

    def has_any_part(self) -> bool:
        return any(self.staging.glob("*/images/*.parquet"))

    def write_part(self, split: str, part: str, data: SplitData) -> None:
        write_part_files(self.staging, self.schema, split, part, data)

    def _split_names(self) -> list[str]:
        # Only folders holding an images table are splits: extracted frames may live beside them.
        return sorted(p.name for p in self.staging.iterdir() if (p / "images").is_dir())

    def _parts(self, split: str) -> list[str]:
        folder = self.staging / split / "images"
        return sorted(p.stem for p in folder.glob("*.parquet") if not p.name.startswith("."))

    def _summarise_split(self, split: str) -> SplitInfo:
        parts = self._parts(split)
        rels = [f"{split}/{table}/{part}.parquet" for part in parts for table in ("images", "instances")]
        # Reading parts and hashing files release the GIL: threads overlap them (a full JTA
        # conversion finalises 512 parts, 6 GB of Parquet).
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            hashes = pool.map(sha256_file, [self.staging / rel for rel in rels])
            summaries = list(pool.map(lambda part: self._summarise_part(split, part), parts))
            files = dict(zip(rels, hashes, strict=True))
        image_ids = [s.image_ids for s in summaries]
        instance_ids = [s.instance_ids for s in summaries]
        self._check_unique(split, "image_id", image_ids)
        self._check_unique(split, "instance_id", instance_ids)
        vis_counts = sum((s.visibility_counts for s in summaries), np.zeros(len(Visibility), dtype=np.int64))
        return SplitInfo(
            images=int(sum(len(a) for a in image_ids)),
            instances=int(sum(len(a) for a in instance_ids)),
            crowd=sum(s.crowd for s in summaries),
            with_keypoints=sum(s.with_keypoints for s in summaries),
            visibility_counts={v.label: int(vis_counts[v]) for v in Visibility},
            parts=parts,
            files=files,
        )

    def _summarise_part(self, split: str, part: str) -> _PartSummary:
        img = pq.read_table(self._part_file(split, "images", part), columns=["image_id"])
        inst = pq.read_table(
            self._part_file(split, "instances", part),
            columns=["instance_id", "image_id", "iscrowd", "num_keypoints", VISIBILITY_COLUMN],
        )
        iscrowd = inst.column("iscrowd").to_numpy(zero_copy_only=False)
        nk = inst.column("num_keypoints").to_numpy()
        vis = _fixed_list_to_numpy(inst.column(VISIBILITY_COLUMN), np.int8)
        return _PartSummary(
            image_ids=img.column("image_id").to_numpy(),
            instance_ids=inst.column("instance_id").to_numpy(),
            crowd=int(iscrowd.sum()),
            with_keypoints=int(((nk > 0) & ~iscrowd).sum()),
            visibility_counts=np.bincount(vis, minlength=len(Visibility))[: len(Visibility)],
        )

    def _check_unique(self, split: str, field: str, chunks: list[np.ndarray]) -> None:
        if not chunks:
            return
        values = np.concatenate(chunks)
        uniq, counts = np.unique(values, return_counts=True)
        if (counts > 1).any():
            raise OccbenchError(
                "duplicate id across parts", file=self.staging / split, record=int(uniq[counts > 1][0]), field=field
            )

    def finalize(
        self,
        *,
        name: str,
        source: str,
        area_convention: str,
        image_root: str | Path | None = None,
        video_root: str | Path | None = None,
        camera: dict[str, Any] | None = None,
        provenance: dict[str, Any] | None = None,
        warnings: list[str] | None = None,
        source_meta: dict[str, Any] | None = None,
    ) -> Dataset:
        # Temporary files of writes a killed run never finished (atomic_path's ".NAME.*.tmp")
        # must not be published with the dataset.
        for leftover in self.staging.glob("*/*/.*.tmp"):
            leftover.unlink(missing_ok=True)
        splits = {split: self._summarise_split(split) for split in self._split_names()}
        digest = hashlib.sha256()
        for split in sorted(splits):
            for rel, file_hash in sorted(splits[split].files.items()):
                digest.update(f"{rel}\0{file_hash}\n".encode())
        prov = {"occbench_version": __version__, **(provenance or {})}
        manifest = Manifest(
            name=name,
            source=source,
            schema=self.schema.name,
            joint_names=list(self.schema.joint_names),
            sigmas=list(self.schema.sigmas),
            flip_pairs=[list(p) for p in self.schema.flip_pairs],
            skeleton=[list(e) for e in self.schema.skeleton],
            area_convention=area_convention,
            splits=splits,
            image_root=_portable_root(image_root, self.out_dir),
            video_root=_portable_root(video_root, self.out_dir),
            camera=camera,
            provenance=prov,
            warnings=list(warnings or []),
            source_meta=dict(source_meta or {}),
            content_hash=digest.hexdigest(),
        )
        write_text_atomic(self.staging / MANIFEST_NAME, manifest.to_json())
        replace_dir(self.staging, self.out_dir)
        return Dataset(root=self.out_dir, manifest=manifest)

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def write_part_files(staging: Path, schema: JointSchema, split: str, part: str, data: SplitData) -> None:
    """Check a part and write its two tables atomically into a staging folder (workers call this
    directly). Images are written last: their file marks the part complete."""
    check_part(schema, split, part, data)
    with atomic_path(staging / split / "instances" / f"{part}.parquet") as tmp:
        pq.write_table(instances_to_arrow(data), tmp, **PARQUET_OPTIONS)
    write_part_images(staging, split, part, data.images)


def check_part(schema: JointSchema, split: str, part: str, data: SplitData) -> None:
    """Raise on the first problem of a part (naming file, record and field)."""
    problems = check_split(data, schema.num_joints, f"{split}/{part}")
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise OccbenchError(first.message + more, file=first.where, record=first.record, field=first.field)


def write_part_images(staging: Path, split: str, part: str, images: pd.DataFrame) -> None:
    """A checked part's images table; written last, its file marks the part complete (a
    converter that writes its instances itself, chunk by chunk, calls this at the end)."""
    with atomic_path(staging / split / "images" / f"{part}.parquet") as tmp:
        pq.write_table(_images_to_arrow(images), tmp, **PARQUET_OPTIONS)


def _portable_root(root: str | Path | None, dataset_dir: Path) -> str | None:
    """Store a root relative to the dataset folder when it lies beside it, else absolute."""
    if root is None:
        return None
    root_abs = Path(root).resolve()
    try:
        return os.path.relpath(root_abs, dataset_dir.resolve())
    except ValueError:
        return str(root_abs)


def converter_provenance(converter: str, source_files: list[Path], options: dict[str, Any]) -> dict[str, Any]:
    """The provenance block of a converted dataset: who converted which files (sha256) how."""
    return {
        "converter": converter,
        "source_files": {str(f): sha256_file(f) for f in source_files},
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in options.items()},
    }


def write_dataset(
    out_dir: str | Path,
    schema: str,
    splits: dict[str, SplitData],
    *,
    overwrite: bool = False,
    **manifest_fields: Any,
) -> Dataset:
    """Write whole in-memory splits as one part each and publish the folder."""
    writer = DatasetWriter(out_dir, schema, overwrite=overwrite)
    try:
        for split, data in splits.items():
            writer.write_part(split, "part-00000", data)
        return writer.finalize(**manifest_fields)
    except BaseException:
        writer.abort()
        raise
