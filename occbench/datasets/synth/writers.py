"""Writers of the native layouts, exactly the files a user downloads, so converters run as on real data.

- ``jta``: ``annotations/<split>/seq_N.json`` (one JSON list of rows ``[frame, person_id,
  joint_type, x2D, y2D, x3D, y3D, z3D, occluded, self_occluded]`` as floats, frames from 1) and
  ``videos/<split>/seq_N.mp4`` (H.264 through PyAV, one encoder thread: reproducible).
- ``jta-ext``: ``seq_N/coords.csv`` (a header, 17 columns: the 10 JTA columns with JTA-Ext's
  names, then the per-frame camera ``cam_3D_x/y/z, cam_rot_x/y/z, fov``), frame 0 present, and
  ``<frame>.jpeg`` images (numbered CSV frame + ``frame_offset``, as some real sequences are).
- ``crowdpose``: ``annotations/crowdpose_<split>.json`` (COCO style, the 14 CrowdPose joints
  mapped from JTA's 22 with the OccNet mapping, v = 2 visible / 1 occluded or self-occluded /
  0 off-screen, head and neck only 0 or 1 like the real files, ``num_keypoints`` = joints with
  v > 0 among the first 12, ``crowdIndex`` per image, and the official category with its
  COCO-copied skeleton) and ``images/<id>.jpg``.

Output goes to a staging folder and is published with one rename; ``synth_config.json``
records the configuration.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from occbench.datasets.crowding import crowd_index
from occbench.datasets.synth.generate import SynthConfig, SynthFrame, SynthSequence, iter_frames, make_sequence
from occbench.errors import OccbenchError
from occbench.fileio import atomic_dir
from occbench.progress import make_progress
from occbench.skeletons import COCO17, CROWDPOSE14, get_mapping

JTA_EXT_COLUMNS = (
    "frame", "pedestrian_id", "joint_type", "2D_x", "2D_y", "3D_x", "3D_y", "3D_z", "occluded", "self_occluded",
    "cam_3D_x", "cam_3D_y", "cam_3D_z", "cam_rot_x", "cam_rot_y", "cam_rot_z", "fov",
)  # fmt: skip
JPEG_QUALITY = 92
# The skeleton the official CrowdPose files carry: COCO's, 1-based, invalid for 14 joints.
CROWDPOSE_FILE_SKELETON = COCO17.skeleton_one_based()


def jta_rows(frame: SynthFrame, frame_number: int) -> np.ndarray:
    """(P * 22, 10) float rows of one frame in JTA's column order."""
    p, k = frame.joints_2d.shape[:2]
    rows = np.empty((p, k, 10))
    rows[..., 0] = frame_number
    rows[..., 1] = frame.track_ids[:, None]
    rows[..., 2] = np.arange(k)
    rows[..., 3:5] = frame.joints_2d
    rows[..., 5:8] = frame.joints_3d
    rows[..., 8] = frame.occluded
    rows[..., 9] = frame.self_occluded
    return rows.reshape(-1, 10)


def _rows_json(rows: np.ndarray) -> str:
    return json.dumps(np.round(rows, 6).tolist(), separators=(", ", ": "))


class _VideoWriter:
    def __init__(self, path: Path, width: int, height: int, fps: float) -> None:
        import av

        path.parent.mkdir(parents=True, exist_ok=True)
        self.container = av.open(str(path), "w")
        self.stream = self.container.add_stream("libx264", rate=round(fps))
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"crf": "17", "preset": "veryfast"}
        self.stream.codec_context.thread_count = 1

    def write(self, image: np.ndarray) -> None:
        import av

        for packet in self.stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()


def _save_jpeg(path: Path, image: np.ndarray) -> None:
    Image.fromarray(image).save(path, format="JPEG", quality=JPEG_QUALITY)


def write_jta_sequence(out: Path, seq: SynthSequence, config: SynthConfig, advance: Callable[[], None]) -> None:
    name = f"seq_{seq.index}"
    video = _VideoWriter(out / "videos" / seq.split / f"{name}.mp4", *config.size, config.fps)
    rows = []
    try:
        for frame in iter_frames(seq, dataclasses.replace(config, stride=1)):
            rows.append(jta_rows(frame, frame.frame + 1))
            video.write(frame.image)
            advance()
    finally:
        video.close()
    ann = out / "annotations" / seq.split / f"{name}.json"
    ann.parent.mkdir(parents=True, exist_ok=True)
    ann.write_text(_rows_json(np.concatenate(rows) if rows else np.zeros((0, 10))))


def write_jta_ext_sequence(out: Path, seq: SynthSequence, config: SynthConfig, advance: Callable[[], None],
                           frame_offset: int = 0) -> None:  # fmt: skip
    folder = out / f"seq_{seq.index}"
    folder.mkdir(parents=True, exist_ok=True)
    cam = seq.camera
    camera_columns = [*cam.position.tolist(), -np.degrees(cam.pitch), 0.0, 0.0,
                      float(np.degrees(2 * np.arctan(cam.height / (2 * cam.K[1, 1]))))]  # fmt: skip
    lines = [",".join(JTA_EXT_COLUMNS)]
    for frame in iter_frames(seq, dataclasses.replace(config, stride=1)):
        rows = jta_rows(frame, frame.frame)
        full = np.concatenate([rows, np.tile(camera_columns, (len(rows), 1))], axis=1)
        lines += [",".join(f"{v:.6g}" if i > 2 else str(int(v)) for i, v in enumerate(row)) for row in full.tolist()]
        _save_jpeg(folder / f"{frame.frame + frame_offset}.jpeg", frame.image)
        advance()
    (folder / "coords.csv").write_text("\n".join(lines) + "\n")


def crowdpose_annotations(frame: SynthFrame, image_id: int, first_ann_id: int, width: int, height: int
                          ) -> list[dict[str, object]]:  # fmt: skip
    """CrowdPose-style annotations of the people in a frame (see the module docstring)."""
    mapping = get_mapping("jta22", "crowdpose14")
    idx = np.asarray(mapping.source_index)
    xy = frame.joints_2d[:, idx]
    in_frame = frame.in_frame[:, idx]
    hidden = (frame.occluded | frame.self_occluded)[:, idx]
    v = np.where(in_frame, np.where(hidden, 1, 2), 0)
    v[:, 12:] = np.where(in_frame[:, 12:], 1, 0)  # head and neck: 0/1 only, as in the real files
    kp = np.concatenate([np.where(v[..., None] > 0, xy, 0.0), v[..., None]], axis=-1)
    all_xy = frame.joints_2d
    x0, y0 = all_xy[..., 0].min(1), all_xy[..., 1].min(1)
    x1, y1 = all_xy[..., 0].max(1), all_xy[..., 1].max(1)
    pad = 0.06 * (y1 - y0)
    bx0, by0 = np.clip(x0 - 1.5 * pad, 0, width), np.clip(y0 - pad, 0, height)
    bx1, by1 = np.clip(x1 + 1.5 * pad, 0, width), np.clip(y1 + 0.5 * pad, 0, height)
    keep = (bx1 - bx0 >= 4) & (by1 - by0 >= 4) & frame.in_frame.any(1)
    anns = []
    for n, p in enumerate(np.flatnonzero(keep)):
        anns.append({
            "num_keypoints": int((v[p, :12] > 0).sum()),
            "iscrowd": 0,
            "keypoints": np.round(kp[p], 2).reshape(-1).tolist(),
            "image_id": image_id,
            "bbox": np.round([bx0[p], by0[p], bx1[p] - bx0[p], by1[p] - by0[p]], 2).tolist(),
            "category_id": 1,
            "id": first_ann_id + n,
        })  # fmt: skip
    return anns


def write_crowdpose_split(out: Path, split: str, seqs: list[SynthSequence], config: SynthConfig,
                          advance: Callable[[], None]) -> None:  # fmt: skip
    images_dir = out / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    width, height = config.size
    images, annotations = [], []
    for seq in seqs:
        for frame in iter_frames(seq, config):
            image_id = 100_000 * (seq.index + 1) + frame.frame
            anns = crowdpose_annotations(frame, image_id, image_id * 100, width, height)
            _save_jpeg(images_dir / f"{image_id}.jpg", frame.image)
            images.append({"file_name": f"{image_id}.jpg", "id": image_id, "height": height, "width": width})
            annotations += anns
            advance()
    _add_crowd_index(images, annotations)
    doc = {
        "images": images,
        "annotations": annotations,
        "categories": [{"supercategory": "person", "id": 1, "name": "person",
                        "keypoints": list(CROWDPOSE14.joint_names), "skeleton": CROWDPOSE_FILE_SKELETON}],
    }  # fmt: skip
    ann_dir = out / "annotations"
    ann_dir.mkdir(parents=True, exist_ok=True)
    (ann_dir / f"crowdpose_{split}.json").write_text(json.dumps(doc))


def _add_crowd_index(images: list[dict[str, object]], annotations: list[dict[str, object]]) -> None:
    ids = np.asarray([im["id"] for im in images], dtype=np.int64)
    if not annotations:
        for im in images:
            im["crowdIndex"] = 0.0
        return
    kp = np.asarray([a["keypoints"] for a in annotations], dtype=np.float64).reshape(len(annotations), -1, 3)
    ci = crowd_index(
        ids,
        np.asarray([a["image_id"] for a in annotations]),
        np.asarray([a["bbox"] for a in annotations], dtype=np.float64),
        kp[..., :2],
        kp[..., 2] > 0,
    )
    for im, value in zip(images, ci.tolist(), strict=True):
        im["crowdIndex"] = round(value, 4)


LAYOUTS = ("jta", "jta-ext", "crowdpose")


def write_layout(layout: str, out_dir: str | Path, config: SynthConfig, *, overwrite: bool = False,
                 frame_offset: int = 0) -> Path:  # fmt: skip
    """Generate ``config``'s sequences and write them in a native layout (atomically)."""
    if layout not in LAYOUTS:
        raise OccbenchError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}", field="--layout")
    if config.size[0] % 2 or config.size[1] % 2:
        raise OccbenchError(f"frame size {config.size} must be even (H.264)", field="--size")
    out = Path(out_dir)
    sequences = config.sequences
    frames_each = config.frames if layout != "crowdpose" else len(range(0, config.frames, config.stride))
    with atomic_dir(out, overwrite=overwrite) as staging, make_progress() as progress:
        task = progress.add_task(f"synth {layout}", total=frames_each * len(sequences))

        def advance() -> None:
            progress.advance(task)

        if layout == "crowdpose":
            by_split: dict[str, list[SynthSequence]] = {}
            for split, index in sequences:
                by_split.setdefault(split, []).append(make_sequence(config, split, index))
            for split, seqs in by_split.items():
                write_crowdpose_split(staging, split, seqs, config, advance)
        else:
            for split, index in sequences:
                seq = make_sequence(config, split, index)
                if layout == "jta":
                    write_jta_sequence(staging, seq, config, advance)
                else:
                    write_jta_ext_sequence(staging, seq, config, advance, frame_offset)
        record = {"layout": layout, "frame_offset": frame_offset, **dataclasses.asdict(config)}
        (staging / "synth_config.json").write_text(json.dumps(record, indent=2) + "\n")
    return out
