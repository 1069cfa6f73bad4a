"""Frame decoding: sequential video reads, and errors that name the file."""

from __future__ import annotations

import numpy as np
import pytest

from occbench.errors import OccbenchError
from occbench.inference.frames import DecodeUnit, FrameStream, read_video_frames
from tests.inference.helpers import write_rgb_video


def test_video_frames_are_exact_and_in_order(tmp_path) -> None:
    frames = [np.full((16, 24, 3), 10 * i, dtype=np.uint8) for i in range(6)]
    write_rgb_video(tmp_path / "v.mp4", frames)
    got = list(read_video_frames(tmp_path / "v.mp4", [4, 1, 4]))
    assert [i for i, _ in got] == [1, 4]
    np.testing.assert_array_equal(got[1][1], frames[4])
    with pytest.raises(OccbenchError, match="ends before frame 9"):
        list(read_video_frames(tmp_path / "v.mp4", [2, 9]))


def test_broken_files_come_back_as_errors_naming_them(tmp_path) -> None:
    (tmp_path / "bad.jpg").write_bytes(b"nope")
    (tmp_path / "bad.mp4").write_bytes(b"nope")
    items = list(
        FrameStream(
            [DecodeUnit((0,), (str(tmp_path / "bad.jpg"),)), DecodeUnit((1, 2), (str(tmp_path / "bad.mp4"),), (0, 1))]
        )
    )
    assert [(i.position, i.image is None, i.file) for i in items] == [
        (0, True, str(tmp_path / "bad.jpg")),
        (1, True, str(tmp_path / "bad.mp4")),
    ]
    assert all(i.error for i in items)
