"""Video frame order for tracking: which images form a sequence, and in what order.

Both linking and the PoseTrack metrics need the frames of each sequence in order. The
unified images table carries ``sequence`` and ``frame`` (and, for video sources,
``video_frame``). The rules, enforced with errors that name the image:

- an image belongs to a sequence when ``sequence`` is not empty; such an image must have a
  frame number (``frame >= 0``);
- a (sequence, frame) pair appears once ("repeated frame");
- inside a sequence, frames are ordered by ``frame``; where ``video_frame`` is known it must
  increase with ``frame`` ("frames out of order": the frame numbers disagree with the
  video's own order);
- "consecutive" means adjacent in that order: a gap in the numbering (frames 1, 2, 4) does
  not break a sequence; a frame without detections does (see ``link``).

Sequences are processed in sorted name order, so every result is independent of the row
order of the input tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from occbench.errors import OccbenchError


@dataclass
class FrameIndex:
    """The sequence frames of a split, sorted by (sequence, frame)."""

    image_ids: np.ndarray  # (F,) int64
    seq_code: np.ndarray  # (F,) int64 index into ``sequences``
    sequences: list[str]
    frame: np.ndarray  # (F,) int64 the source's frame number
    width: np.ndarray  # (F,) float64
    height: np.ndarray  # (F,) float64
    crowd_index: np.ndarray  # (F,) float64 (recomputed crowdIndex)
    still_image_ids: np.ndarray  # image ids that belong to no sequence
    source: object = "images"

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def first_of_sequence(self) -> np.ndarray:
        """(F,) True where a frame starts its sequence."""
        out = np.ones(len(self), dtype=bool)
        out[1:] = self.seq_code[1:] != self.seq_code[:-1]
        return out

    @property
    def last_of_sequence(self) -> np.ndarray:
        out = np.ones(len(self), dtype=bool)
        out[:-1] = self.seq_code[:-1] != self.seq_code[1:]
        return out

    def positions(self, image_ids: np.ndarray, source: object, what: str = "prediction") -> np.ndarray:
        """Frame position of each image id; raises naming the first id that is not a sequence frame."""
        image_ids = np.asarray(image_ids, dtype=np.int64)
        order = np.argsort(self.image_ids, kind="stable")
        sorted_ids = self.image_ids[order]
        idx = np.clip(np.searchsorted(sorted_ids, image_ids), 0, max(len(sorted_ids) - 1, 0))
        found = sorted_ids[idx] == image_ids if len(sorted_ids) else np.zeros(len(image_ids), dtype=bool)
        bad = np.flatnonzero(~found)
        if len(bad):
            i = int(bad[0])
            image_id = int(image_ids[i])
            reason = (
                f"{what} on image {image_id}, which belongs to no video sequence (empty 'sequence')"
                if np.isin(image_id, self.still_image_ids)
                else f"unknown image id {image_id}"
            )
            raise OccbenchError(f"{reason} ({len(bad)} rows affected)", file=source, record=i, field="image_id")
        return order[idx]


def build_frame_index(images: pd.DataFrame, source: object = "images") -> FrameIndex:
    """Order the sequence frames of an images table, checking the rules of the module docstring."""
    seq = images["sequence"].fillna("").astype(str).to_numpy()
    in_seq = seq != ""
    image_ids = images["image_id"].to_numpy().astype(np.int64)
    frame = images["frame"].to_numpy().astype(np.int64)
    video_frame = (
        images["video_frame"].to_numpy().astype(np.int64)
        if "video_frame" in images
        else np.full(len(images), -1, np.int64)
    )
    no_frame = np.flatnonzero(in_seq & (frame < 0))
    if len(no_frame):
        i = int(no_frame[0])
        raise OccbenchError(
            f"image {int(image_ids[i])} is in sequence {seq[i]!r} but has no frame number",
            file=source,
            record=f"image_id {int(image_ids[i])}",
            field="frame",
        )
    rows = np.flatnonzero(in_seq)
    sequences, seq_code = np.unique(seq[rows].astype(str), return_inverse=True)
    order = np.lexsort((frame[rows], seq_code))
    rows, seq_code = rows[order], seq_code[order].astype(np.int64)
    f = frame[rows]
    same_seq = seq_code[1:] == seq_code[:-1]
    repeated = np.flatnonzero(same_seq & (f[1:] == f[:-1]))
    if len(repeated):
        i = rows[repeated[0] + 1]
        raise OccbenchError(
            f"frame {int(frame[i])} of sequence {seq[i]!r} is repeated (images {int(image_ids[rows[repeated[0]]])} "
            f"and {int(image_ids[i])})",
            file=source,
            record=f"image_id {int(image_ids[i])}",
            field="frame",
        )
    vf = video_frame[rows]
    known = (vf[1:] >= 0) & (vf[:-1] >= 0)
    backwards = np.flatnonzero(same_seq & known & (vf[1:] <= vf[:-1]))
    if len(backwards):
        i = rows[backwards[0] + 1]
        raise OccbenchError(
            f"frames out of order in sequence {seq[i]!r}: frame {int(frame[i])} has video_frame {int(video_frame[i])}, "
            f"not after frame {int(frame[rows[backwards[0]]])} (video_frame {int(video_frame[rows[backwards[0]]])})",
            file=source,
            record=f"image_id {int(image_ids[i])}",
            field="video_frame",
        )
    ids = image_ids[rows]
    if len(np.unique(image_ids)) != len(image_ids):
        dup = pd.Series(image_ids).duplicated().to_numpy()
        raise OccbenchError(
            "duplicate image id", file=source, record=f"image_id {int(image_ids[dup][0])}", field="image_id"
        )

    def column(name: str) -> np.ndarray:
        if name not in images:
            return np.full(len(rows), np.nan)
        return images[name].to_numpy().astype(np.float64)[rows]

    return FrameIndex(
        image_ids=ids,
        seq_code=seq_code,
        sequences=[str(s) for s in sequences],
        frame=f,
        width=column("width"),
        height=column("height"),
        crowd_index=column("crowd_index_recomputed"),
        still_image_ids=image_ids[~in_seq],
        source=source,
    )
