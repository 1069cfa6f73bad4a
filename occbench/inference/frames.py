"""Decoding the images and video frames the pipeline crops from, in DataLoader workers.

The work is cut into units: a few consecutive still images, or all the wanted frames of one
video, decoded sequentially (one seek-free pass; a video is never split across workers).
Workers take units round-robin and yield ``FrameItem``s; the main process crops them on the
device. A file that cannot be decoded comes back as an error naming the file, so the main
process raises a clean ``OccbenchError`` instead of a worker traceback.

Still images decode with simplejpeg or Pillow (RGB, no EXIF rotation: the convention of
``cv2.imread``) and video frames with PyAV, both through ``occbench.datasets.media``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import IterableDataset, get_worker_info

from occbench.datasets.media import VideoReader, load_image_rgb
from occbench.datasets.store import Dataset
from occbench.datasets.validate import unsafe_relative_path
from occbench.errors import OccbenchError

IMAGES_PER_UNIT = 4


def _as_tensor(array: np.ndarray) -> torch.Tensor:
    # Pillow hands out read-only buffers; the pipeline never writes to a decoded image, so
    # share the memory instead of paying a copy per image.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array)


def read_video_frames(path: str | Path, indices: list[int]) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (frame index, (H, W, 3) uint8 RGB) for the wanted 0-based frames, decoding in order."""
    with VideoReader(path) as reader:
        yield from reader.frames(indices)


@dataclass(frozen=True)
class DecodeUnit:
    """Images decoded together by one worker: stills (one path each) or frames of one video."""

    positions: tuple[int, ...]  # rows of the plan's image table
    paths: tuple[str, ...]  # one per position for stills; the video path for a video unit
    frames: tuple[int, ...] = ()  # video frame indices, one per position (empty for stills)


@dataclass
class FrameItem:
    position: int
    image: torch.Tensor | None  # (H, W, 3) uint8 RGB
    seconds: float  # decode time in the worker
    error: str = ""
    file: str = ""

    def pin_memory(self) -> FrameItem:
        """Called by the DataLoader's pinning thread, so host→device copies can be asynchronous."""
        if self.image is not None:
            self.image = self.image.pin_memory()
        return self


def decode_units(
    dataset: Dataset, images: pd.DataFrame, image_root: str | Path | None = None, per_unit: int = IMAGES_PER_UNIT
) -> list[DecodeUnit]:
    """Cut the plan's images into decode units (stills in runs of ``per_unit``, one unit per video).

    ``image_root`` overrides the dataset's image root.
    """
    video = images["video"].fillna("").to_numpy(object)
    is_video = video != ""
    units: list[DecodeUnit] = []
    stills = np.flatnonzero(~is_video)
    if len(stills):
        names = images["file_name"].to_numpy(object)[stills]
        paths = [str(dataset.image_path(name, image_root)) for name in names]
        for lo in range(0, len(stills), per_unit):
            units.append(DecodeUnit(tuple(stills[lo : lo + per_unit].tolist()), tuple(paths[lo : lo + per_unit])))
    if is_video.any():
        root = dataset.video_root()
        if root is None:
            raise OccbenchError("dataset has video frames but no video root", file=dataset.root, field="video_root")
        frames = images["video_frame"].to_numpy(np.int64)
        for name in pd.unique(video[is_video]):
            if unsafe_relative_path(name):
                raise OccbenchError("video path escapes the video root", file=dataset.root, record=name, field="video")
            rows = np.flatnonzero(video == name)
            rows = rows[np.argsort(frames[rows], kind="stable")]
            units.append(DecodeUnit(tuple(rows.tolist()), (str(root / name),), tuple(frames[rows].tolist())))
    return units


def _decode_unit(unit: DecodeUnit) -> Iterator[FrameItem]:
    if not unit.frames:
        for position, path in zip(unit.positions, unit.paths, strict=True):
            start = time.perf_counter()
            try:
                image = _as_tensor(load_image_rgb(path))
            except OccbenchError as exc:
                yield FrameItem(position, None, 0.0, exc.reason, path)
                continue
            yield FrameItem(position, image, time.perf_counter() - start)
        return
    position_of = dict(zip(unit.frames, unit.positions, strict=True))
    start = time.perf_counter()
    try:
        for frame, array in read_video_frames(unit.paths[0], list(unit.frames)):
            yield FrameItem(position_of[frame], _as_tensor(array), time.perf_counter() - start)
            start = time.perf_counter()
    except OccbenchError as exc:
        yield FrameItem(unit.positions[0], None, 0.0, exc.reason, unit.paths[0])
    except Exception as exc:  # PyAV raises its own error types for broken files
        yield FrameItem(unit.positions[0], None, 0.0, f"cannot decode video: {exc}", unit.paths[0])


class FrameStream(IterableDataset):
    """Yields a ``FrameItem`` per image; with workers, each takes every n-th unit."""

    def __init__(self, units: list[DecodeUnit]) -> None:
        self.units = units

    def __iter__(self) -> Iterator[FrameItem]:
        info = get_worker_info()
        mine = self.units if info is None else self.units[info.id :: info.num_workers]
        for unit in mine:
            yield from _decode_unit(unit)


def frame_loader(units: list[DecodeUnit], workers: int, pin_memory: bool, prefetch: int = 4) -> Iterator[FrameItem]:
    """Iterate decoded frames, with ``workers`` processes decoding ahead of the consumer."""
    if workers <= 0:
        yield from FrameStream(units)
        return
    loader = torch.utils.data.DataLoader(
        FrameStream(units),
        batch_size=None,
        num_workers=min(workers, max(1, len(units))),
        pin_memory=pin_memory,
        prefetch_factor=prefetch,
        collate_fn=_identity,
        persistent_workers=False,
    )
    yield from loader


def _identity(item: FrameItem) -> FrameItem:
    return item
