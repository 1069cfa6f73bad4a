"""JTA converter: streaming, parallel over sequences, resumable, frames referenced in the videos.

Input: ``ROOT/annotations/{train,val,test}/seq_N.json`` (one JSON list of rows ``[frame,
person_id, joint_type, x2D, y2D, x3D, y3D, z3D, occluded, self_occluded]``, frames from 1) and
``ROOT/videos/{split}/seq_N.mp4``.

Output (per sequence one dataset part, written atomically by a worker process):

- joints in ``crowdpose14`` (the OccNet mapping: head ← head_top, neck ← neck) or native ``jta22``;
  3D joints (camera coordinates, m) in ``keypoints_3d``;
- visibility, in this order: outside the frame (x < 0, x > W, y < 0 or y > H) → ``truncated``
  (the position is kept); else occluded → ``occluded``; else self-occluded → ``self_occluded``;
  else ``visible``;
- box (``box="in_frame"``, default): tight around the joints inside the frame; ``box="all"``:
  tight around all joints, clipped to the frame; ``box="occnet"``: the OccNet authors' export
  (OpenCV ``boundingRect`` over all joints: floored corners, ``w = floor(max) - floor(min) + 1``,
  not clipped); ``area = w * h`` (the OccNet export's OKS area, ``area_convention="bbox"``);
- ``num_keypoints`` = joints that are labelled (visible, occluded or self-occluded): JTA has no
  such field, and this is COCO's meaning;
- person id → ``track_id``; crowdIndex recomputed per frame (JTA publishes none);
- images table: ``sequence`` (seq_N), ``frame`` (JTA's number, from 1), ``video`` (relative to
  the video root = ROOT) and ``video_frame`` (frame − 1); ``file_name`` is where
  ``extract_frames`` writes the JPEG.

Filters reproduce the OccNet authors' latest export by default: a person is kept if at least
one joint is on screen and not occluded by someone else (their v = 2 or 3: visible or
self-occluded; ``min_visible_joints=1``, which also drops people entirely off-screen); no
minimum box size. Frame stride and range are options.

The numeric rows are parsed by pyarrow's CSV reader over the row text (brackets turned into
newlines), verified equal to ``json.load`` in the tests; malformed files fall back to
``json.load`` to name the offending row. Every error names the sequence, frame and row.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import re
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from occbench.datasets.crowding import crowd_index
from occbench.datasets.format import (
    SplitData,
    class_counts,
    labelled_mask,
    make_images_table,
    make_instances_table,
    occlusion_ratios,
)
from occbench.datasets.store import (
    PARQUET_OPTIONS,
    Dataset,
    DatasetWriter,
    check_part,
    instances_to_arrow,
    write_part_images,
)
from occbench.errors import OccbenchError
from occbench.fileio import atomic_path
from occbench.progress import make_progress
from occbench.skeletons import JTA22, LABELLED_CLASSES, JointSchema, Visibility, get_mapping, get_schema

SOURCE = "jta"
JTA_SPLITS = ("train", "val", "test")
JTA_SIZE = (1920, 1080)
JTA_K = [[1158.0, 0.0, 960.0], [0.0, 1158.0, 540.0], [0.0, 0.0, 1.0]]
COLUMNS = ("frame", "person_id", "joint_type", "x2d", "y2d", "x3d", "y3d", "z3d", "occluded", "self_occluded")
SEQUENCE_STRIDE = 10_000_000  # image ids: split code, then sequence number * stride + frame
SPLIT_STRIDE = 10_000 * SEQUENCE_STRIDE
SPLIT_CODES = {"train": 1, "val": 2, "test": 3}
BOX_VARIANTS = ("in_frame", "all", "occnet")
FRAMES_DIR = "frames"  # extracted JPEGs: OUT/frames/<split>/seq_N/<frame>.jpg (the official to_imgs.py layout)


@dataclass(frozen=True)
class JTAOptions:
    schema: str = "crowdpose14"
    box: str = "in_frame"  # in_frame | all | occnet
    min_visible_joints: int = 1
    min_box_size: float = 0.0  # minimum box width and height, pixels
    stride: int = 1
    frames: tuple[int, int] | None = None  # first, last JTA frame numbers (inclusive)
    extract_frames: bool = False
    no_videos: bool = False
    frame_size: tuple[int, int] | None = None  # width, height; default: the video's, else 1920x1080

    def check(self) -> None:
        get_schema(self.schema)
        if self.schema not in ("crowdpose14", "jta22"):
            raise OccbenchError("JTA converts to crowdpose14 or jta22", field="--schema")
        if self.box not in BOX_VARIANTS:
            raise OccbenchError(f"box must be one of {', '.join(BOX_VARIANTS)}", field="--box")
        if self.stride < 1:
            raise OccbenchError("stride must be at least 1", field="--stride")


def sequence_number(name: str) -> int:
    match = re.fullmatch(r"seq_(\d+)", name)
    if not match:
        raise OccbenchError("sequence files are named seq_N.json", file=name)
    number = int(match.group(1))
    if number >= SPLIT_STRIDE // SEQUENCE_STRIDE:  # the sequence number is part of the image id
        raise OccbenchError(f"sequence numbers must be below {SPLIT_STRIDE // SEQUENCE_STRIDE:,}", file=name)
    return number


_WHITESPACE = b" \t\r\n"
# With whitespace deleted, ``[`` -> newline and ``]`` -> comma make each row one CSV line:
# ``[[1,2],[3,4]]`` -> ``\n\n1,2,,\n3,4,,``: after the two leading newlines, every line is the
# row's numbers followed by two empty fields (from ``]`` and the separator, or ``]]``).
_ROWS_TO_CSV = bytes.maketrans(b"[]", b"\n,")


def parse_rows(path: Path, width: int = 10, raw: bytes | None = None) -> np.ndarray:
    """The (N, width) float64 rows of a JTA-style JSON file (fast path; see module docstring).

    Returned column-major (a transposed (width, N) array): every consumer reads it column by
    column. The CSV result is used only when the structure is proven to be a flat list of
    rows: the text starts with ``[[`` and ends with ``]]``; every line (empty ones included)
    has exactly ``width`` numbers and two empty fields; no field is quoted. Anything else goes
    through ``json.load``, which also names the offending row. ``raw``: the file's bytes, when
    the caller has already read them.
    """
    compact = (path.read_bytes() if raw is None else raw).translate(_ROWS_TO_CSV, _WHITESPACE)
    if compact == b"\n,":  # []
        return np.zeros((0, width))
    columns = _csv_columns(compact, b"\n\n", width)
    del compact
    return _slow_rows(path, width) if columns is None else columns.T


def _csv_columns(compact: bytes, lead: bytes, width: int, before: np.ndarray | None = None) -> np.ndarray | None:
    """(width, N) float64 columns of translated row text (``_ROWS_TO_CSV``) that starts with
    ``lead`` (``[[`` of a file, or ``[`` of a chunk's first row) and ends with ``,,``; None when
    the text is not proven to be whole rows of ``width`` numbers. ``before``: (width, M) columns
    to put first (a streamed chunk's carried rows), written into the same array, not copied twice."""
    if not (compact.startswith(lead) and compact.endswith(b",,")):
        return None
    names = [f"c{i}" for i in range(width)] + ["close", "separator"]
    types = {name: (pa.float64() if i < width else pa.null()) for i, name in enumerate(names)}
    try:
        table = pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(memoryview(compact)[len(lead) :])),
            # 1 MiB blocks: fastest measured on 2 cores (16 MiB: 10% slower).
            read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 20),
            # An empty line (a nested ``[``) is a row with the wrong field count, not skipped; a
            # quoted "7" fails to parse instead of being unquoted.
            parse_options=pacsv.ParseOptions(quote_char=False, ignore_empty_lines=False),
            # Only an empty field is null: ``]null,`` or ``NaN`` in a structural field fails.
            convert_options=pacsv.ConvertOptions(column_types=types, null_values=[""]),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if any(table.column(i).null_count for i in range(width)):
        return None
    lead_rows = 0 if before is None else before.shape[1]
    columns = np.empty((width, lead_rows + table.num_rows))
    if lead_rows:
        columns[:, :lead_rows] = before
    for i in range(width):
        start = lead_rows
        for chunk in table.column(i).chunks:
            columns[i, start : start + len(chunk)] = chunk.to_numpy()
            start += len(chunk)
    return columns


def row_chunks(raw: bytes | mmap.mmap, size: int) -> list[tuple[int, int]]:
    """Byte spans ``[start, end)`` of a row file, each holding whole rows: about ``size`` bytes,
    the last about ``size / 4`` (the thread's work on the last chunk is what the conversion waits
    for at the end). The first starts at the file's start, each ends just after the comma that
    follows a row, the next starts at the following row's ``[``. A file whose rows are not
    separated as expected near a cut comes back as one span."""
    total = len(raw)
    if total <= size:
        return [(0, total)]
    tail = size // 4
    targets = [*range(size, total - tail, size), total - tail]
    spans, start = [], 0
    for target in targets:
        close = raw.find(b"]", max(target, start))
        comma = raw.find(b",", close) if close >= 0 else -1
        opening = raw.find(b"[", comma) if comma >= 0 else -1
        if opening < 0 or raw[close + 1 : comma].strip() or raw[comma + 1 : opening].strip():
            break
        spans.append((start, comma + 1))
        start = opening
    spans.append((start, total))
    return spans


def _slow_rows(path: Path, width: int) -> np.ndarray:
    """``json.load`` and a row-by-row check: only used to name the problem in a malformed file."""
    try:
        rows = json.loads(path.read_bytes())
    except json.JSONDecodeError as exc:
        raise OccbenchError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", file=path) from None
    if not isinstance(rows, list):
        raise OccbenchError("expected a JSON list of rows", file=path)
    for index, row in enumerate(rows):
        frame = row[0] if isinstance(row, list) and row else "?"
        frame = f"{frame:g}" if isinstance(frame, int | float) else frame
        if not isinstance(row, list) or len(row) != width:
            n = len(row) if isinstance(row, list) else type(row).__name__
            raise OccbenchError(
                f"has {n} values, expected {width}", file=path, record=f"row {index} (frame {frame})", field="row"
            )
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in row):
            raise OccbenchError("non-numeric value", file=path, record=f"row {index} (frame {frame})", field="row")
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), width)


@dataclass
class Poses:
    """A sequence's rows grouped into people, sorted by (frame, person): one (P, 22) array per
    column (views of the parsed rows when the file is already in order: no copies)."""

    frame: np.ndarray  # (P,)
    person: np.ndarray  # (P,)
    coords: tuple[np.ndarray, ...]  # x2d, y2d, x3d, y3d, z3d: (P, 22) each
    occluded: np.ndarray  # (P, 22) bool
    self_occluded: np.ndarray  # (P, 22) bool


def group_rows(rows: np.ndarray, source: object, k: int = JTA22.num_joints) -> Poses:
    """Group rows into poses, checking ids, duplicates and completeness (vectorised, column by
    column: ``parse_rows`` returns the rows column-major)."""
    if rows.shape[0] == 0:
        return Poses(
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
            tuple(np.zeros((0, k)) for _ in range(5)),
            np.zeros((0, k), bool),
            np.zeros((0, k), bool),
        )
    columns = [rows[:, i] for i in range(rows.shape[1])]
    finite = np.isfinite(columns[0])
    for column in columns[1:]:
        finite &= np.isfinite(column)
    bad = np.flatnonzero(~finite)
    if len(bad):
        raise OccbenchError("NaN or inf value", file=source, record=_where(rows, bad[0]), field="row")
    frame, person, joint = (columns[i].astype(np.int64) for i in range(3))
    bad = np.flatnonzero((frame != columns[0]) | (person != columns[1]) | (joint != columns[2]))
    if len(bad):
        raise OccbenchError(
            "frame, person id and joint type must be integers", file=source, record=_where(rows, bad[0]), field="row"
        )
    bad = np.flatnonzero((joint < 0) | (joint >= k))
    if len(bad):
        raise OccbenchError(
            f"unknown joint id {joint[bad[0]]} (JTA has 0..{k - 1})",
            file=source,
            record=_where(rows, bad[0]),
            field="joint_type",
        )
    bad = np.flatnonzero(frame < 1)
    if len(bad):
        raise OccbenchError("frames are counted from 1", file=source, record=_where(rows, bad[0]), field="frame")
    bad = np.flatnonzero(frame >= SEQUENCE_STRIDE)  # the frame is part of the image id
    if len(bad):
        raise OccbenchError(
            f"frame numbers must be below {SEQUENCE_STRIDE:,}", file=source, record=_where(rows, bad[0]), field="frame"
        )
    # JTA files list rows frame by frame, person by person, joint by joint: no reordering then.
    later = (frame[1:] > frame[:-1]) | (
        (frame[1:] == frame[:-1])
        & ((person[1:] > person[:-1]) | ((person[1:] == person[:-1]) & (joint[1:] > joint[:-1])))
    )
    order = None if later.all() else np.lexsort((joint, person, frame))
    f, p, j = (frame, person, joint) if order is None else (frame[order], person[order], joint[order])
    same = (f[1:] == f[:-1]) & (p[1:] == p[:-1])
    dup = np.flatnonzero(same & (j[1:] == j[:-1]))
    if len(dup):
        first, r = (dup[0], dup[0] + 1) if order is None else (order[dup[0]], order[dup[0] + 1])
        raise OccbenchError(
            f"duplicate row for frame {frame[r]}, person {person[r]}, joint {joint[r]} (rows {first} and {r})",
            file=source,
            record=_where(rows, r),
            field="row",
        )
    starts = np.concatenate([[0], np.flatnonzero(~same) + 1])
    counts = np.diff(np.concatenate([starts, [len(f)]]))
    bad = np.flatnonzero(counts != k)
    if len(bad):
        r = starts[bad[0]] if order is None else order[starts[bad[0]]]
        raise OccbenchError(
            f"person {person[r]} in frame {frame[r]} has {counts[bad[0]]} joints, expected {k}",
            file=source,
            record=_where(rows, r),
            field="joint_type",
        )

    def people(i: int) -> np.ndarray:  # column i as (P, k), in (frame, person, joint) order
        return (columns[i] if order is None else columns[i][order]).reshape(-1, k)

    return Poses(
        frame=f[::k].copy(),
        person=p[::k].copy(),
        coords=tuple(people(i) for i in range(3, 8)),
        occluded=people(8) > 0,
        self_occluded=people(9) > 0,
    )


def _where(rows: np.ndarray, index: int) -> str:
    return f"row {index} (frame {rows[index, 0]:g})"


def visibility_classes(
    x: np.ndarray, y: np.ndarray, occluded: np.ndarray, self_occluded: np.ndarray, width: int, height: int
) -> np.ndarray:
    """Classes of joints (any shape, int8): truncated outside the frame, then occluded,
    self-occluded, visible."""
    outside = (x < 0) | (x > width) | (y < 0) | (y > height)
    # Nested selects, not masked assignments: 5x faster.
    classes = np.where(self_occluded, np.int8(Visibility.SELF_OCCLUDED), np.int8(Visibility.VISIBLE))
    classes = np.where(occluded, np.int8(Visibility.OCCLUDED), classes)
    return np.where(outside, np.int8(Visibility.TRUNCATED), classes)


def joint_boxes(x: np.ndarray, y: np.ndarray, classes: np.ndarray, width: int, height: int, variant: str) -> np.ndarray:
    """(P, 4) xywh boxes from joint-major (K, P) joints (see ``BOX_VARIANTS`` and the module
    docstring). Joint-major, the extremes are elementwise over K rows: 10x faster than
    reducing each person's short row."""
    if variant == "occnet":
        # The OccNet authors' export: OpenCV's boundingRect over all joints, integer corners,
        # inclusive extent, not clipped.
        x0, y0 = np.floor(x.min(axis=0)), np.floor(y.min(axis=0))
        x1, y1 = np.floor(x.max(axis=0)), np.floor(y.max(axis=0))
        return np.stack([x0, y0, x1 - x0 + 1, y1 - y0 + 1], axis=1)
    use = classes != Visibility.TRUNCATED if variant == "in_frame" else np.ones(classes.shape, bool)
    big = 1e12
    x0 = np.where(use, x, big).min(axis=0)
    y0 = np.where(use, y, big).min(axis=0)
    x1 = np.where(use, x, -big).max(axis=0)
    y1 = np.where(use, y, -big).max(axis=0)
    x0, x1 = np.clip(x0, 0, width), np.clip(x1, 0, width)
    y0, y1 = np.clip(y0, 0, height), np.clip(y1, 0, height)
    empty = ~use.any(axis=0)
    box = np.stack([x0, y0, np.maximum(x1 - x0, 0), np.maximum(y1 - y0, 0)], axis=1)
    box[empty] = 0.0
    return box


def video_frame_size(video: Path, max_frame: int, source: object) -> tuple[int, int]:
    """Check the video opens and covers the annotated frames; return its (width, height)."""
    from occbench.datasets.media import VideoReader

    if not video.is_file():
        raise OccbenchError(
            f"video not found: {video} (pass --no-videos to convert annotations only)", file=source, field="video"
        )
    with VideoReader(video) as reader:
        if reader.num_frames < max_frame:
            raise OccbenchError(
                f"video has {reader.num_frames} frames, annotations go to frame {max_frame}",
                file=video,
                record=f"frame {max_frame}",
                field="video",
            )
        return reader.width, reader.height


def build_sequence(
    poses: Poses,
    seq: str,
    split: str,
    frame_numbers: np.ndarray,
    width: int,
    height: int,
    options: JTAOptions,
    video_rel: str,
    with_crowd_index: bool = True,
    first_instance: int = 0,
) -> SplitData:
    """The unified split part of one sequence from its poses (vectorised over people). Without
    ``with_crowd_index`` the images' crowdIndex is left NaN for ``fill_crowd_index``;
    ``first_instance`` numbers the instances of a later chunk of the sequence."""
    number = sequence_number(seq)
    # People of the converted frames, output joints only (one gather each), then their classes;
    # joints the mapping cannot provide get coordinates 0 and class unlabeled (JointMapping.apply).
    index = np.asarray(get_mapping("jta22", options.schema).source_index)
    provided = index >= 0
    joints = np.where(provided, index, 0)
    rows = np.isin(poses.frame, frame_numbers, kind="table")  # frame numbers: a small int range
    every = bool(rows.all())

    def gather(column: np.ndarray) -> np.ndarray:  # (K', P'): the kept people's output joints, joint-major
        return (column if every else column[rows]).T[joints]

    x, y = gather(poses.coords[0]), gather(poses.coords[1])
    vis = visibility_classes(x, y, gather(poses.occluded), gather(poses.self_occluded), width, height)
    x3d, y3d, z3d = (gather(c) for c in poses.coords[2:])
    if not provided.all():
        for joint_major in (x, y, x3d, y3d, z3d):
            joint_major[~provided] = 0.0
        vis[~provided] = Visibility.UNLABELED
    frames, persons = (poses.frame, poses.person) if every else (poses.frame[rows], poses.person[rows])
    # "Visible" as the authors' export counts it: on screen and not occluded by anyone else.
    counts = class_counts(vis.T)
    keep = counts[:, Visibility.VISIBLE] + counts[:, Visibility.SELF_OCCLUDED] >= options.min_visible_joints
    box = joint_boxes(x, y, vis, width, height, options.box)
    keep &= (box[:, 2] >= options.min_box_size) & (box[:, 3] >= options.min_box_size)
    # Back to person-major (P', K', ...) for the tables, the kept people only.
    xy = np.stack([x.T[keep], y.T[keep]], axis=-1)
    xyz = np.stack([x3d.T[keep], y3d.T[keep], z3d.T[keep]], axis=-1)
    vis, box, counts = vis.T[keep], box[keep], counts[keep]
    frames, persons = frames[keep], persons[keep]
    # The split is part of the ids, so sequences of different splits never collide.
    base = SPLIT_CODES.get(split, 9) * SPLIT_STRIDE + number * SEQUENCE_STRIDE
    image_ids = base + frame_numbers
    inst_image = base + frames
    occ, self_occ = occlusion_ratios(vis, counts)
    n = len(frames)
    images = make_images_table(
        {
            "image_id": image_ids,
            "file_name": [f"{split}/{seq}/{f:06d}.jpg" for f in frame_numbers.tolist()],
            "width": np.full(len(image_ids), width),
            "height": np.full(len(image_ids), height),
            "crowd_index_recomputed": np.full(len(image_ids), np.nan),
            "sequence": seq,
            "frame": frame_numbers,
            "video": video_rel,
            "video_frame": frame_numbers - 1,
        }
    )
    instances = make_instances_table(
        {
            "instance_id": base * 100 + first_instance + np.arange(n),
            "image_id": inst_image,
            "bbox_x": box[:, 0],
            "bbox_y": box[:, 1],
            "bbox_w": box[:, 2],
            "bbox_h": box[:, 3],
            "area": box[:, 2] * box[:, 3],
            "num_keypoints": sum(counts[:, c] for c in LABELLED_CLASSES),
            "occlusion_ratio": occ,
            "self_occlusion_ratio": self_occ,
            "track_id": persons,
        }
    )
    data = SplitData(images, instances, xy, vis, xyz)
    if with_crowd_index:
        fill_crowd_index(data)
    return data


def fill_crowd_index(data: SplitData) -> None:
    """Set the images' ``crowd_index_recomputed`` from the part's instances (per frame)."""
    boxes = data.instances[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].to_numpy(np.float64)
    data.images["crowd_index_recomputed"] = crowd_index(
        data.images["image_id"].to_numpy(),
        data.instances["image_id"].to_numpy(),
        boxes,
        data.keypoints,
        labelled_mask(data.visibility),
    )


@dataclass(frozen=True)
class SequenceJob:
    split: str
    seq: str
    annotation: str
    video: str
    video_rel: str
    staging: str
    options: JTAOptions


STREAM_CHUNK_BYTES = 8 << 20  # JSON bytes per chunk of a streamed sequence (~110k rows)


class _NotStreamable(Exception):
    """The sequence needs the one-piece path (irregular text, rows out of frame order, or an
    error, which the one-piece path reports with its exact row)."""


def convert_sequence(job: SequenceJob) -> tuple[str, str, str]:
    """Worker: parse, group, map and write one sequence's part (and frames if asked); returns
    (split, sequence, sha256 of the annotation file).

    The file is read once and hashed on a thread (hashlib releases the GIL). It is then
    streamed in chunks of whole frames (``_convert_spans``): while the main thread parses and
    maps chunk i + 1, the thread compresses and writes chunk i's instances as one Parquet row
    group. A file that cannot be streamed is converted in one piece by the same code.
    """
    ann, staging = Path(job.annotation), Path(job.staging)
    source = f"{ann} (sequence {job.seq})"
    schema = get_schema(job.options.schema)
    with _mapped(ann) as raw, ThreadPoolExecutor(max_workers=1) as beside:
        digest = beside.submit(_sha256, raw)
        spans = row_chunks(raw, STREAM_CHUNK_BYTES)
        images = None
        if len(spans) > 1:
            with suppress(_NotStreamable):
                images = _convert_spans(job, raw, spans, source, schema, beside)
        if images is None:
            images = _convert_spans(job, raw, [(0, len(raw))], source, schema, beside)
        if job.options.extract_frames:
            _extract_frames(Path(job.video), staging, images)
        write_part_images(staging, job.split, job.seq, images)
        return job.split, job.seq, digest.result()


def _sha256(data: bytes | mmap.mmap) -> str:
    return hashlib.sha256(data).hexdigest()


@contextmanager
def _mapped(path: Path) -> Iterator[bytes | mmap.mmap]:
    """The file's bytes, memory-mapped: no private copy to fault in (measured: half the kernel
    time of ``read_bytes`` on a 54 MB file)."""
    with path.open("rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            yield b""
            return
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            yield mapped


def _frame_size(job: SequenceJob, source: str) -> tuple[int, int]:
    if job.options.no_videos:
        return job.options.frame_size or JTA_SIZE
    width, height = video_frame_size(Path(job.video), 0, source)
    return job.options.frame_size or (width, height)


def _frame_grid(options: JTAOptions, low: int, high: int) -> np.ndarray:
    """The frame numbers converted (range and stride options) among ``low..high``."""
    first = max(options.frames[0], 1) if options.frames else 1
    last = min(options.frames[1], high) if options.frames else high
    candidates = np.arange(max(low, first), last + 1, dtype=np.int64)
    return candidates[(candidates - first) % options.stride == 0]


def _convert_spans(
    job: SequenceJob,
    raw: bytes | mmap.mmap,
    spans: list[tuple[int, int]],
    source: str,
    schema: JointSchema,
    beside: ThreadPoolExecutor,
) -> pd.DataFrame:
    """Convert a sequence chunk by chunk (``spans`` from ``row_chunks``); return the images table.

    The main thread parses, groups, maps and checks each chunk; the thread appends its instances
    to the part as a row group and computes its crowdIndex, while the main thread goes on with
    the next chunk. A chunk's rows of its last frame are carried into the next chunk, so every
    chunk holds whole frames. With several spans, frames must not decrease through the file and
    any surprise raises ``_NotStreamable``; one span (the whole file) takes any valid file and
    reports errors with their exact row. The instances file is written atomically either way.
    """
    streamed = len(spans) > 1
    width, height = _frame_size(job, source)
    target = Path(job.staging) / job.split / "instances" / f"{job.seq}.parquet"
    carry = np.zeros((len(COLUMNS), 0))
    done_frame = instances = 0
    chunks: list[Future] = []
    try:
        with atomic_path(target) as tmp:
            part = _PartWriter(tmp)
            try:
                for index, (start, end) in enumerate(spans):
                    if streamed:
                        compact = raw[start:end].translate(_ROWS_TO_CSV, _WHITESPACE)
                        columns = _csv_columns(compact, b"\n\n" if index == 0 else b"\n", len(COLUMNS), carry)
                        del compact
                        if columns is None:
                            raise _NotStreamable
                        frame = columns[0]
                        if (frame[1:] < frame[:-1]).any():
                            raise _NotStreamable
                        if index < len(spans) - 1:
                            cut = int(np.searchsorted(frame, frame[-1]))  # the last frame's rows go on
                            columns, carry = columns[:, :cut], columns[:, cut:]
                        if columns.shape[1] == 0:
                            continue
                    else:
                        columns = parse_rows(Path(job.annotation), raw=raw[:]).T
                    poses = group_rows(columns.T, source)
                    high = int(poses.frame.max(initial=done_frame))
                    data = build_sequence(
                        poses,
                        job.seq,
                        job.split,
                        _frame_grid(job.options, done_frame + 1, high),
                        width,
                        height,
                        job.options,
                        job.video_rel,
                        with_crowd_index=False,
                        first_instance=instances,
                    )
                    check_part(schema, job.split, job.seq, data)
                    done_frame, instances = high, instances + len(data.instances)
                    # From here the chunk belongs to the thread (it fills the images' crowdIndex).
                    chunks.append(beside.submit(part.add, data, instances_to_arrow(data)))
                if not chunks:
                    raise _NotStreamable
                if not job.options.no_videos:
                    video_frame_size(Path(job.video), done_frame, source)
            finally:
                for chunk in chunks:  # the thread must be done with the writer before it closes
                    chunk.exception()
                part.close()
            images = [chunk.result() for chunk in chunks]
    except OccbenchError as error:
        if streamed:
            raise _NotStreamable from error
        raise
    return pd.concat(images, ignore_index=True)


class _PartWriter:
    """A part's instances file written one chunk (row group) at a time, on one thread."""

    def __init__(self, path: Path):
        self.path = path
        self.writer: pq.ParquetWriter | None = None

    def add(self, data: SplitData, table: pa.Table) -> pd.DataFrame:
        """Append a checked chunk's instances (``table``), fill its crowdIndex; return its images
        table. Only GIL-free work is left here (compression, writing, numpy), so the thread does
        not slow the main thread's Python."""
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema, **PARQUET_OPTIONS)
        if table.num_rows:
            self.writer.write_table(table)
        fill_crowd_index(data)
        return data.images

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _extract_frames(video: Path, staging: Path, images: pd.DataFrame) -> None:
    from PIL import Image

    from occbench.datasets.media import VideoReader

    names = dict(zip(images["video_frame"].tolist(), images["file_name"].tolist(), strict=True))
    with VideoReader(video) as reader:
        for index, rgb in reader.frames(sorted(names)):
            target = staging / FRAMES_DIR / names[index]
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rgb).save(target, format="JPEG", quality=95)


def _frame_sizes(writer: DatasetWriter) -> list[tuple[int, int]]:
    """The distinct (width, height) of all written parts (resumed ones included)."""
    sizes: set[tuple[int, int]] = set()
    for table in writer.staging.glob("*/images/*.parquet"):
        t = pq.read_table(table, columns=["width", "height"])
        sizes.update(zip(t.column("width").to_pylist(), t.column("height").to_pylist(), strict=True))
    return sorted(sizes)


def find_sequences(root: Path, splits: list[str]) -> list[tuple[str, Path]]:
    out = []
    for split in splits:
        folder = root / "annotations" / split
        if not folder.is_dir():
            raise OccbenchError(f"no annotations/{split} folder", file=root, field="--split")
        files = sorted(folder.glob("seq_*.json"), key=lambda p: sequence_number(p.stem))
        if not files:
            raise OccbenchError("no seq_N.json files", file=folder)
        out += [(split, f) for f in files]
    return out


def convert_jta(
    root: Path,
    out_dir: Path,
    *,
    splits: list[str] | None = None,
    options: JTAOptions | None = None,
    workers: int = 1,
    resume: bool = False,
    overwrite: bool = False,
    name: str = "jta",
) -> Dataset:
    """Convert JTA sequences into one unified dataset; see the module docstring."""
    options = options or JTAOptions()
    options.check()
    root = Path(root)
    splits = splits or [s for s in JTA_SPLITS if (root / "annotations" / s).is_dir()]
    sequences = find_sequences(root, splits)
    writer = DatasetWriter(out_dir, options.schema, overwrite=overwrite, resume=resume)
    jobs = []
    for split, ann in sequences:
        if writer.has_part(split, ann.stem):
            continue
        video_rel = f"videos/{split}/{ann.stem}.mp4"
        jobs.append(
            SequenceJob(split, ann.stem, str(ann), str(root / video_rel), video_rel, str(writer.staging), options)
        )
    hashes: dict[str, str] = {}
    with make_progress() as progress:
        tasks = {s: progress.add_task(f"jta {s}", total=sum(1 for sp, _ in sequences if sp == s)) for s in splits}
        for split in splits:
            progress.advance(tasks[split], sum(1 for sp, a in sequences if sp == split and writer.has_part(sp, a.stem)))
        if workers > 1 and len(jobs) > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = {pool.submit(convert_sequence, job): job for job in jobs}
                for future in as_completed(futures):
                    split, _, digest = future.result()
                    hashes[futures[future].annotation] = digest
                    progress.advance(tasks[split])
        else:
            for job in jobs:
                split, _, digest = convert_sequence(job)
                hashes[job.annotation] = digest
                progress.advance(tasks[split])
    sizes = _frame_sizes(writer)
    width, height = sizes[0] if len(sizes) == 1 else (options.frame_size or JTA_SIZE)
    sx, sy = width / JTA_SIZE[0], height / JTA_SIZE[1]
    camera = {
        "K": [[JTA_K[0][0] * sx, 0.0, JTA_K[0][2] * sx], [0.0, JTA_K[1][1] * sy, JTA_K[1][2] * sy], [0.0, 0.0, 1.0]],
        "width": width,
        "height": height,
        "note": "JTA intrinsics K = [[1158, 0, 960], [0, 1158, 540], [0, 0, 1]] at 1920x1080, scaled to the frames",
    }
    return writer.finalize(
        name=name,
        source=SOURCE,
        area_convention="bbox",
        image_root=writer.out_dir / FRAMES_DIR if options.extract_frames else None,
        video_root=None if options.no_videos else root,
        camera=camera,
        provenance={
            "converter": __name__,
            "source_files": hashes,  # sha256 of the annotation files converted in this run
            "options": {"splits": splits, **asdict(options)},
            "annotation_only": options.no_videos,
        },
        warnings=[] if len(sizes) <= 1 else [f"sequences have different frame sizes: {sizes}"],
    )
