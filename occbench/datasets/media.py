"""Decoding images and video frames: the one place pixels come from.

- ``load_image_rgb(path)``: an (H, W, 3) uint8 RGB array. JPEGs decode with simplejpeg
  (libjpeg-turbo straight into the array: ~20 % faster than Pillow, which unpacks to 4 bytes a
  pixel and packs back); anything it cannot take (other formats, CMYK, damaged files) goes
  through Pillow. Both are libjpeg-turbo's accurate DCT with smooth chroma upsampling, the
  pixels of ``cv2.imread`` (tested equal).
- ``VideoReader(path)``: MP4 frames through PyAV, by 0-based index. ``frames(indices)`` decodes
  sequentially and yields the requested frames in ascending order (the fast way through a
  sequence); ``frame(i)`` seeks to the keyframe before ``i`` and decodes forward to exactly ``i``
  (random access; tested equal to sequential decoding).
- ``iter_split_images(dataset, split)``: every image or frame of a split as ``(image_id, rgb)``,
  still images from their files and video frames decoded sequentially per video.

Errors name the file and the frame.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import simplejpeg

from occbench.errors import OccbenchError

JPEG_MAGIC = b"\xff\xd8"
SIMPLEJPEG_COLORSPACES = ("YCbCr", "Gray")


def load_image_rgb(path: str | Path) -> np.ndarray:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise OccbenchError("image file not found", file=path) from None
    except OSError as exc:
        raise OccbenchError(f"cannot read image: {exc}", file=path) from None
    if data[:2] == JPEG_MAGIC:
        try:
            # CMYK / YCCK go to Pillow, whose conversion to RGB differs from libjpeg-turbo's.
            if simplejpeg.decode_jpeg_header(data)[2] in SIMPLEJPEG_COLORSPACES:
                return simplejpeg.decode_jpeg(data, colorspace="RGB")
        except ValueError:
            pass  # damaged: Pillow names the fault
    return _pillow_rgb(data, path)


def _pillow_rgb(data: bytes, path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            # convert() copies even an RGB image: skip it then.
            return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    except UnidentifiedImageError:
        raise OccbenchError("cannot decode image: damaged, or not an image format Pillow reads", file=path) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise OccbenchError(f"cannot decode image: {exc}", file=path) from None


class VideoReader:
    """Frames of one video by 0-based index (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        import av

        self.path = Path(path)
        if not self.path.is_file():
            raise OccbenchError("video file not found", file=self.path)
        try:
            self._container = av.open(str(self.path))
            self._stream = self._container.streams.video[0]
        except (av.FFmpegError, IndexError, OSError) as exc:
            raise OccbenchError(f"cannot open video: {exc}", file=self.path) from None
        self._stream.thread_type = "AUTO"
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps = Fraction(rate) if rate else Fraction(30)
        self.time_base = self._stream.time_base
        self.width = int(self._stream.codec_context.width)
        self.height = int(self._stream.codec_context.height)
        self._num_frames: int | None = int(self._stream.frames) or None

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def num_frames(self) -> int:
        """Frames in the video (from the container; counted by decoding when it does not say)."""
        if self._num_frames is None:
            self._num_frames = sum(1 for _ in self._decode_from(0))
        return self._num_frames

    def _index_of(self, frame: Any) -> int:
        if frame.pts is None:
            raise OccbenchError("frame without a timestamp", file=self.path)
        start = self._stream.start_time or 0
        return round(float((frame.pts - start) * self.time_base * self.fps))

    def _decode_from(self, first: int) -> Iterator[tuple[int, Any]]:
        import av

        try:
            if first > 0:
                start = self._stream.start_time or 0
                target = int(start + first / (self.fps * self.time_base))
                self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
            else:
                self._container.seek(0, stream=self._stream, backward=True, any_frame=False)
            for frame in self._container.decode(self._stream):
                yield self._index_of(frame), frame
        except av.FFmpegError as exc:
            raise OccbenchError(f"cannot decode video: {exc}", file=self.path) from None

    def frames(self, indices: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
        """Decode sequentially from the first requested frame; yield the requested ones in order."""
        wanted = sorted(set(int(i) for i in indices))
        if not wanted:
            return
        pending = iter(wanted)
        target = next(pending)
        for index, frame in self._decode_from(wanted[0]):
            if index < target:
                continue
            if index > target:
                raise OccbenchError(f"frame {target} not found (decoder jumped to {index})", file=self.path,
                                    record=f"frame {target}")  # fmt: skip
            yield index, frame.to_ndarray(format="rgb24")
            target = next(pending, None)
            if target is None:
                return
        raise OccbenchError(f"video ends before frame {target}", file=self.path, record=f"frame {target}")

    def frame(self, index: int) -> np.ndarray:
        """One frame by exact seek."""
        for _, rgb in self.frames([index]):
            return rgb
        raise OccbenchError(f"frame {index} not found", file=self.path, record=f"frame {index}")


def iter_split_images(
    dataset: Any,
    split: str,
    image_ids: Sequence[int] | None = None,
    image_root: str | Path | None = None,
    video_root: str | Path | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """``(image_id, rgb)`` for the split's images (or ``image_ids``); video frames are decoded
    sequentially, one pass per video, in ascending frame order."""
    images = dataset.read_images(split)
    if image_ids is not None:
        images = images[images["image_id"].isin(np.asarray(image_ids))]
    videos = images["video"].to_numpy()
    stills = images[videos == ""]
    for image_id, name in zip(stills["image_id"].to_numpy(), stills["file_name"], strict=True):
        yield int(image_id), load_image_rgb(dataset.image_path(name, image_root))
    framed = images[videos != ""]
    root = dataset.video_root(video_root)
    if len(framed) and root is None:
        raise OccbenchError("dataset has no video root; pass one", file=dataset.root, field="video_root")
    for video, group in framed.groupby("video", sort=True):
        by_frame = dict(zip(group["video_frame"].to_numpy().tolist(), group["image_id"].to_numpy().tolist(),
                            strict=True))  # fmt: skip
        with VideoReader(root / str(video)) as reader:
            for index, rgb in reader.frames(sorted(by_frame)):
                yield int(by_frame[index]), rgb
