"""JTA-Ext converter (the OccNet paper's extension of JTA): CSV annotations and JPEG frames.

Input: ``ROOT/seq_N/coords.csv`` with a header and 17 columns (JTA's 10 with JTA-Ext's names,
then the per-frame camera ``cam_3D_x, cam_3D_y, cam_3D_z, cam_rot_x, cam_rot_y, cam_rot_z,
fov``) and the frames ``ROOT/seq_N/<image number>.jpeg``.

Traps handled (SOURCES.md):

- frame 0 is in the CSV and dropped, as the authors' tools do;
- a sequence is cut at the first row containing NaN, with a warning;
- CSV frame numbers and image numbers can be offset (+1, +2, −1 in the authors' tools). The
  offset is given per sequence (``frame_offsets={"seq_3": 2}``) or detected from the files:
  among the offsets −5..+5, the ones that fit both ways, i.e. every kept frame has an image and
  every image is a frame the CSV lists (frame 0 and frames after a NaN cut included). If exactly
  one does, it is taken; otherwise the sequence is reported and skipped, never guessed. With a
  given offset, frames without an image are dropped with a warning naming the first one. (Image content was
  tried as evidence: the frame-to-frame image change does not follow smooth 30 fps joint motion
  closely enough to tell neighbouring offsets apart, so occbench does not use it.)

Joints, visibility, boxes, areas, num_keypoints, tracks and crowdIndex follow the JTA
converter (``occbench.datasets.jta``); the per-frame camera pose is kept in each image's
``extra``; images reference the JPEG files (``seq_N/<number>.jpeg``) under the image root ROOT.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from occbench.datasets.format import dump_extra
from occbench.datasets.jta import JTAOptions, build_sequence, group_rows, sequence_number
from occbench.datasets.store import Dataset, DatasetWriter
from occbench.errors import OccbenchError
from occbench.progress import track

SOURCE = "jta-ext"
JTA_COLUMNS = (
    "frame",
    "pedestrian_id",
    "joint_type",
    "2D_x",
    "2D_y",
    "3D_x",
    "3D_y",
    "3D_z",
    "occluded",
    "self_occluded",
)
CAMERA_COLUMNS = ("cam_3D_x", "cam_3D_y", "cam_3D_z", "cam_rot_x", "cam_rot_y", "cam_rot_z", "fov")
CANDIDATE_OFFSETS = range(-5, 6)


@dataclass
class Alignment:
    offset: int | None
    reason: str
    scores: dict[int, float] = field(default_factory=dict)


def read_coords(path: Path) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """(rows (N, 10), camera (N, 7), warnings, all CSV frame numbers) of a coords.csv, frame 0 dropped,
    cut at the first NaN."""
    if not path.is_file():
        raise OccbenchError("coords.csv not found", file=path)
    raw = path.read_bytes()
    try:
        table = pacsv.read_csv(io.BytesIO(raw), read_options=pacsv.ReadOptions(block_size=1 << 24))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise OccbenchError(f"malformed CSV: {exc}", file=path) from None
    missing = [c for c in (*JTA_COLUMNS, *CAMERA_COLUMNS) if c not in table.column_names]
    if missing:
        raise OccbenchError(f"missing columns {missing}", file=path, field="header")
    try:
        rows = np.column_stack([table.column(c).to_numpy(zero_copy_only=False).astype(np.float64) for c in JTA_COLUMNS])
        cam = np.column_stack(
            [table.column(c).to_numpy(zero_copy_only=False).astype(np.float64) for c in CAMERA_COLUMNS]
        )
    except (ValueError, pa.ArrowInvalid) as exc:
        raise OccbenchError(f"non-numeric value ({exc})", file=path) from None
    warnings = []
    # Alignment looks at every frame the file lists, also those after a NaN cut: frames were
    # rendered for all of them.
    listed = rows[:, 0]
    all_frames = np.unique(listed[np.isfinite(listed)])
    nan_rows = np.flatnonzero(~np.isfinite(rows).all(axis=1) | ~np.isfinite(cam).all(axis=1))
    if len(nan_rows):
        nan_row = int(nan_rows[0])
        # Cut at the start of that frame, so no person is left with part of its joints. When the
        # frame number itself is NaN, the frame before it may be incomplete too: drop it as well.
        frame = rows[nan_row, 0] if np.isfinite(rows[nan_row, 0]) else rows[max(nan_row - 1, 0), 0]
        cut = int(np.flatnonzero(rows[: nan_row + 1, 0] == frame)[0]) if np.isfinite(frame) else nan_row
        warnings.append(
            f"{path}: row {nan_row} (frame {rows[nan_row, 0]:g}) contains NaN; the sequence is cut "
            f"before frame {frame:g} ({len(rows) - cut} rows dropped)"
        )
        rows, cam = rows[:cut], cam[:cut]
    keep = rows[:, 0] != 0  # frame 0 "sometimes causes issues" (the authors' tools drop it)
    return rows[keep], cam[keep], warnings, all_frames


def image_numbers(folder: Path) -> np.ndarray:
    numbers = [int(p.stem) for p in folder.glob("*.jpeg") if p.stem.lstrip("-").isdigit()]
    return np.asarray(sorted(numbers), dtype=np.int64)


def detect_offset(rows: np.ndarray, folder: Path, csv_frames: np.ndarray) -> Alignment:
    """Image number = CSV frame + offset; see the module docstring for the rule.

    ``csv_frames`` are all frame numbers the CSV lists (frame 0 and frames after a NaN cut
    included); ``rows`` the kept rows.
    """
    frames = np.unique(rows[:, 0].astype(np.int64))
    available = image_numbers(folder)
    if len(frames) == 0:
        return Alignment(0, "no annotated frames")
    listed = np.unique(csv_frames.astype(np.int64))
    covers = [o for o in CANDIDATE_OFFSETS if np.isin(frames + o, available).all()]
    both_ways = [o for o in covers if np.isin(available - o, listed).all()]
    span = f"{CANDIDATE_OFFSETS.start}..{CANDIDATE_OFFSETS.stop - 1}"
    if len(both_ways) == 1:
        return Alignment(
            both_ways[0], f"the only offset in {span} giving every kept frame an image and every image a CSV frame"
        )
    if not covers:
        return Alignment(None, f"no offset in {span} has an image for every annotated frame")
    if not both_ways:
        return Alignment(
            None, f"offsets {covers} give every annotated frame an image, but each leaves images with no CSV frame"
        )
    return Alignment(None, f"offsets {both_ways} all fit frames and images both ways")


def convert_jta_ext(
    root: Path,
    out_dir: Path,
    *,
    split: str = "test",
    options: JTAOptions | None = None,
    frame_offsets: dict[str, int] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    name: str = "jta-ext",
) -> Dataset:
    """Convert JTA-Ext sequences into one unified dataset split; see the module docstring."""
    options = options or JTAOptions()
    options.check()
    root = Path(root)
    folders = sorted((p for p in root.glob("seq_*") if p.is_dir()), key=lambda p: sequence_number(p.name))
    if not folders:
        raise OccbenchError("no seq_N folders", file=root)
    frame_offsets = dict(frame_offsets or {})
    unknown = set(frame_offsets) - {p.name for p in folders}
    if unknown:
        raise OccbenchError(f"--frame-offset names unknown sequences {sorted(unknown)}", field="--frame-offset")
    writer = DatasetWriter(out_dir, options.schema, overwrite=overwrite, resume=resume)
    warnings: list[str] = []
    skipped: dict[str, str] = {}
    alignments: dict[str, dict[str, object]] = {}
    hashes: dict[str, str] = {}
    for folder in track(folders, f"jta-ext {split}"):
        seq = folder.name
        if writer.has_part(split, seq):
            continue
        coords = folder / "coords.csv"
        rows, cam, seq_warnings, csv_frames = read_coords(coords)
        warnings += seq_warnings
        hashes[str(coords)] = hashlib.sha256(coords.read_bytes()).hexdigest()
        if seq in frame_offsets:
            alignment = Alignment(frame_offsets[seq], "given with --frame-offset")
            frames = np.unique(rows[:, 0].astype(np.int64))
            has_image = np.isin(rows[:, 0].astype(np.int64) + alignment.offset, image_numbers(folder))
            if not has_image.all():
                missing = np.unique(rows[~has_image, 0].astype(np.int64))
                warnings.append(
                    f"{folder}: with offset {alignment.offset}, {len(missing)} annotated frames have no image "
                    f"(first: frame {missing[0]} -> {missing[0] + alignment.offset}.jpeg); they are dropped"
                )
                rows, cam = rows[has_image], cam[has_image]
        else:
            alignment = detect_offset(rows, folder, csv_frames)
        alignments[seq] = {"offset": alignment.offset, "reason": alignment.reason}
        if alignment.offset is None:
            skipped[seq] = alignment.reason
            warnings.append(
                f"{folder}: cannot align frames and images ({alignment.reason}); sequence skipped — "
                f"pass --frame-offset {seq}=N after checking it"
            )
            continue
        poses = group_rows(rows, f"{coords} (sequence {seq})")
        frames = np.unique(poses.frame)
        if options.frames:
            frames = frames[(frames >= options.frames[0]) & (frames <= options.frames[1])]
        frames = frames[:: options.stride]
        first = folder / f"{int(frames[0]) + alignment.offset}.jpeg" if len(frames) else None
        width, height = options.frame_size or (frame_size_of(first) if first else (1920, 1080))
        data = build_sequence(poses, seq, split, frames, width, height, options, video_rel="")
        # Images are JPEG files; keep the camera pose of each frame.
        data.images["file_name"] = [f"{seq}/{f + alignment.offset}.jpeg" for f in data.images["frame"].tolist()]
        data.images["video"] = ""
        data.images["video_frame"] = -1
        row_frames, first_row, frame_of_row = np.unique(
            rows[:, 0].astype(np.int64), return_index=True, return_inverse=True
        )
        moved = np.flatnonzero((cam != cam[first_row[frame_of_row]]).any(axis=1))
        if len(moved):
            frames_moved = np.unique(rows[moved, 0].astype(np.int64))
            warnings.append(
                f"{coords}: the camera pose differs between rows of {len(frames_moved)} frames (first: frame "
                f"{frames_moved[0]}); each image keeps its frame's first row's pose"
            )
        image_frames = data.images["frame"].to_numpy()
        frame_cam = cam[first_row[np.searchsorted(row_frames, image_frames)]]
        data.images["extra"] = [
            dump_extra({**dict(zip(CAMERA_COLUMNS, pose, strict=True)), "image_number": f + alignment.offset})
            for pose, f in zip(frame_cam.tolist(), image_frames.tolist(), strict=True)
        ]
        writer.write_part(split, seq, data)
    if not writer.has_any_part():
        writer.abort()
        raise OccbenchError(f"no sequence could be aligned: {skipped}", file=root)
    return writer.finalize(
        name=name,
        source=SOURCE,
        area_convention="bbox",
        image_root=root,
        provenance={
            "converter": __name__,
            "source_files": hashes,
            "options": {"split": split, **asdict(options), "frame_offsets": frame_offsets},
            "alignment": alignments,
            "skipped_sequences": skipped,
        },
        warnings=warnings,
    )


def parse_offsets(values: list[str]) -> dict[str, int]:
    """``["seq_3=2", "seq_7=-1"]`` → ``{"seq_3": 2, "seq_7": -1}``."""
    out = {}
    for value in values:
        match = re.fullmatch(r"(seq_\d+)=(-?\d+)", value.strip())
        if not match:
            raise OccbenchError(f"expected seq_N=OFFSET, got {value!r}", field="--frame-offset")
        out[match.group(1)] = int(match.group(2))
    return out


def frame_size_of(first_image: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(first_image) as im:
        return im.size
