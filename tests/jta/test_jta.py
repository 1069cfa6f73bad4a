"""JTA and JTA-Ext converters and video frames, on native files written by the tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from occbench.datasets.jta import JTAOptions, convert_jta, parse_rows
from occbench.datasets.jta_ext import convert_jta_ext, detect_offset, read_coords
from occbench.datasets.media import VideoReader, iter_split_images
from occbench.datasets.store import open_dataset
from occbench.datasets.synth.generate import SynthConfig
from occbench.datasets.synth.writers import write_layout
from occbench.datasets.validate import validate_dataset
from occbench.errors import OccbenchError
from occbench.skeletons import Visibility

V = Visibility
REPO = Path(__file__).resolve().parents[2]


def person_rows(frame: int, pid: int, x0: float, y0: float, occluded=(), self_occluded=(), moved=None) -> list:
    """22 JTA rows of one standing person at (x0, y0); ``moved`` = {joint: (x, y)}."""
    rows = []
    for j in range(22):
        x, y = x0 + (j % 5) * 6.0, y0 + j * 5.0
        if moved and j in moved:
            x, y = moved[j]
        rows.append(
            [
                float(frame),
                float(pid),
                float(j),
                x,
                y,
                0.1 * j,
                0.2,
                8.0 + j * 0.01,
                float(j in occluded),
                float(j in self_occluded),
            ]
        )
    return rows


def write_jta(root: Path, split: str, seq: str, rows: list, video_frames: int | None = None, size=(320, 240)) -> None:
    ann = root / "annotations" / split
    ann.mkdir(parents=True, exist_ok=True)
    (ann / f"{seq}.json").write_text(json.dumps(rows))
    if video_frames is not None:
        write_video(root / "videos" / split / f"{seq}.mp4", video_frames, size)


def write_video(path: Path, frames: int, size=(320, 240)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"g": "5", "crf": "10"}  # a keyframe every 5 frames: seeking is exercised
        for i in range(frames):
            image = np.zeros((size[1], size[0], 3), np.uint8)
            image[:, :, 0] = (i * 9) % 256  # every frame differs
            image[10 + i : 20 + i, 10:40] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_fast_row_parser_equals_json_load(tmp_path) -> None:
    rows = person_rows(1, 3, 10.5, 20.25) + person_rows(2, 3, 11.125, 21.0)
    variants = {
        "compact.json": json.dumps(rows, separators=(",", ":")),
        "spaced.json": json.dumps(rows),
        "lines.json": "[\n" + ",\n".join("  " + json.dumps(r) for r in rows) + "\n]\n",
    }
    for name, text in variants.items():
        path = tmp_path / name
        path.write_text(text)
        np.testing.assert_array_equal(parse_rows(path), np.asarray(json.loads(text)))


MALFORMED_OR_ODD = [
    "[[1,2,3,4,5,6,7,8,9,10]]",  # fine, one row
    "[[1,2,3,4,5,6,7,8,9,10],[1,2,3,4,5,6,7,8,9]]",  # short row
    "[[1,2,3,4,5,6,7,8,9,10][1,2,3,4,5,6,7,8,9,10]]",  # missing separator
    "[[1,2,3,4,5,6,7,8,9,10],,[1,2,3,4,5,6,7,8,9,10]]",  # double separator
    "[[[1,2,3,4,5,6,7,8,9,10]]]",  # nested
    "[[1,2,3,4,5,6,7,8,9,[10]]]",  # nested value
    "[[1,2,3,4,5,6,7,8,9,10,]]",  # trailing comma
    "[[1,2,3,4,5,6,7,8,9,null]]",  # null
    '[[1,2,3,4,5,6,7,8,9,"10"]]',  # string
    "[[1,2,3,4,5,6,7,8,9,1e-3], [2,2,3,4,5,6,7,8,9,-0.5E2]]",  # exponents
    "[[1,2,3,4,5,6,7,8,9,10],\n[1,2,3,4,5,6,7,8,9,10]",  # unclosed
    "[[1,2,3,4,5,6,7,8,9,10]null,[1,2,3,4,5,6,7,8,9,10]]",  # junk where a separator goes
    "[[1,2,3,4,5,6,7,8,9,10]],[[1,2,3,4,5,6,7,8,9,10]]",  # two top-level lists
    "[[1,2,3,4,5,6,7,8,9,10]]x",  # trailing junk
    "[[1,2,3,4,5,6,7,8,9,10],[]]",  # empty row
    "[[1,2,3,4,5,6,7,8,9,10]x,[1,2,3,4,5,6,7,8,9,10]]",
    '["x",[1,2,3,4,5,6,7,8,9,10]]',
    "[{},[1,2,3,4,5,6,7,8,9,10]]",
]


@pytest.mark.parametrize("text", MALFORMED_OR_ODD)
def test_fast_parser_equals_json_load_or_refuses(tmp_path, text) -> None:
    path = tmp_path / "seq_1.json"
    path.write_text(text)
    try:
        rows = json.loads(text)
    except ValueError:
        rows = None
    ok = isinstance(rows, list) and all(
        isinstance(r, list) and len(r) == 10 and all(type(v) in (int, float) for v in r) for r in rows
    )
    if ok:
        np.testing.assert_array_equal(parse_rows(path), np.asarray(rows, dtype=np.float64))
    else:
        with pytest.raises(OccbenchError):
            parse_rows(path)


LENIENT = [
    "[[1,2,3,4,5,6,7,8,9,.5]]",
    "[[1,2,3,4,5,6,7,8,9,5.]]",
    "[[1,2,3,4,5,6,7,8,9,+5]]",
    "[[1,2,3,4,5,6,7,8,9,05]]",
]


@pytest.mark.parametrize("text", LENIENT)
def test_fast_parser_reads_non_json_number_spellings_as_their_numbers(tmp_path, text) -> None:
    """Documented leniency: pyarrow's number parser accepts a few spellings json.load refuses;
    each is read as the number it spells, never as something else."""
    path = tmp_path / "seq_1.json"
    path.write_text(text)
    expected = float(text.rsplit(",", 1)[1].rstrip("]"))
    np.testing.assert_array_equal(parse_rows(path), [[1, 2, 3, 4, 5, 6, 7, 8, 9, expected]])


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.lists(
            st.one_of(
                st.floats(allow_nan=False, allow_infinity=False, width=64),
                st.integers(-(2**53), 2**53),
                st.floats(-3000, 3000, allow_nan=False).map(lambda v: round(v, 4)),
            ),
            min_size=10,
            max_size=10,
        ),
        min_size=1,
        max_size=30,
    ),
    style=st.sampled_from([(", ", ": "), (",", ":"), None]),
)
def test_fast_parser_is_bit_identical_to_json_load_and_is_taken(tmp_path_factory, rows, style) -> None:
    import occbench.datasets.jta as jta

    text = json.dumps(rows, indent=1) if style is None else json.dumps(rows, separators=style)
    path = tmp_path_factory.mktemp("rows") / "seq_1.json"
    path.write_text(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jta, "_slow_rows", lambda *a: pytest.fail("fast path not taken"))
        parsed = parse_rows(path)
    expected = np.asarray(json.loads(text), dtype=np.float64)
    assert parsed.shape == expected.shape and np.ascontiguousarray(parsed).tobytes() == expected.tobytes()


def test_mapping_visibility_and_boxes_on_hand_built_rows(tmp_path) -> None:
    # Person 7: left shoulder (JTA 8) occluded, right shoulder (JTA 4) self-occluded only, left
    # wrist (JTA 10) off-screen although flagged occluded -> truncated; right wrist (JTA 6) both flags.
    rows = person_rows(1, 7, 50, 30, occluded=(8, 10, 6), self_occluded=(4, 6), moved={10: (-15.0, 60.0)})
    rows += person_rows(1, 9, 200, 30)
    write_jta(tmp_path, "test", "seq_5", rows)
    ds = convert_jta(tmp_path, tmp_path / "ds", options=JTAOptions(no_videos=True, frame_size=(320, 240)))
    data = ds.read_split("test")
    p7 = int(np.flatnonzero(data.instances["track_id"].to_numpy() == 7)[0])
    vis = data.visibility[p7]
    assert vis[0] == V.OCCLUDED and vis[1] == V.SELF_OCCLUDED and vis[4] == V.TRUNCATED
    assert vis[5] == V.OCCLUDED  # occluded wins over self-occluded
    assert (vis[6:] == V.VISIBLE).all()
    # crowdpose head <- JTA head_top (0), neck <- JTA neck (2); 3D joints carried along.
    jta = np.asarray(rows[:22])
    np.testing.assert_array_equal(data.keypoints[p7, 12], jta[0, 3:5])
    np.testing.assert_array_equal(data.keypoints[p7, 13], jta[2, 3:5])
    np.testing.assert_array_equal(data.keypoints_3d[p7, 13], jta[2, 5:8])
    # The truncated joint keeps its position but is left out of the in-frame box.
    np.testing.assert_array_equal(data.keypoints[p7, 4], [-15.0, 60.0])
    inst = data.instances.iloc[p7]
    assert inst["bbox_x"] >= 0 and inst["area"] == inst["bbox_w"] * inst["bbox_h"]
    assert inst["num_keypoints"] == 13  # every joint but the truncated one is labelled
    img = data.images.iloc[0]
    assert (img["sequence"], img["frame"], img["video_frame"]) == ("seq_5", 1, 0)
    assert ds.manifest.provenance["annotation_only"] is True and ds.manifest.video_root is None
    assert validate_dataset(ds.root) == []


def test_occnet_box_and_visibility_filter(tmp_path) -> None:
    # Person 1 fully occluded except one self-occluded joint: kept (v=3 counts as visible for the
    # authors' filter). Person 2 occluded everywhere: dropped.
    rows = person_rows(1, 1, 50.7, 30.2, occluded=tuple(range(1, 22)), self_occluded=(0,))
    rows += person_rows(1, 2, 150, 30, occluded=tuple(range(22)))
    write_jta(tmp_path, "test", "seq_1", rows)
    options = JTAOptions(no_videos=True, frame_size=(320, 240), box="occnet", schema="jta22")
    data = convert_jta(tmp_path, tmp_path / "ds", options=options).read_split("test")
    assert data.instances["track_id"].tolist() == [1]
    x, y = np.asarray(rows[:22])[:, 3], np.asarray(rows[:22])[:, 4]
    # boundingRect: floored corners, inclusive extent.
    expected = [np.floor(x.min()), np.floor(y.min()), np.floor(x.max()) - np.floor(x.min()) + 1]
    inst = data.instances.iloc[0]
    assert [inst["bbox_x"], inst["bbox_y"], inst["bbox_w"]] == expected
    assert inst["bbox_h"] == np.floor(y.max()) - np.floor(y.min()) + 1


def test_crowd_index_on_a_hand_computed_frame(tmp_path) -> None:
    # A (x 50..74, y 30..135) and B shifted 12 px right overlap; C is far away.
    rows = person_rows(1, 1, 50, 30) + person_rows(1, 2, 62, 30) + person_rows(1, 3, 250, 30)
    write_jta(tmp_path, "val", "seq_1", rows)
    ds = convert_jta(
        tmp_path, tmp_path / "ds", options=JTAOptions(no_videos=True, schema="jta22", frame_size=(320, 240))
    )
    data = ds.read_split("val")
    x = np.asarray(rows)[:, 3].reshape(3, 22)
    # Joints of B inside A's box: x in [50, 74] -> B's x = 62 + (j % 5) * 6 <= 74 -> j % 5 in {0, 1, 2}.
    b_in_a = int((x[1] <= 74).sum())
    a_in_b = int((x[0] >= 62).sum())
    expected = (b_in_a / 22 + a_in_b / 22 + 0) / 3
    assert data.images["crowd_index_recomputed"].iloc[0] == pytest.approx(expected)


def test_seek_equals_sequential_decode(tmp_path) -> None:
    write_video(tmp_path / "v.mp4", 23)
    with VideoReader(tmp_path / "v.mp4") as reader:
        assert reader.num_frames == 23 and (reader.width, reader.height) == (320, 240)
        sequential = dict(reader.frames(range(23)))
    for index in (0, 1, 4, 5, 6, 11, 17, 22):
        with VideoReader(tmp_path / "v.mp4") as reader:
            np.testing.assert_array_equal(reader.frame(index), sequential[index])
    with VideoReader(tmp_path / "v.mp4") as reader, pytest.raises(OccbenchError, match="ends before frame 30"):
        list(reader.frames([3, 30]))


@pytest.fixture(scope="module")
def synth_jta(tmp_path_factory) -> Path:
    config = SynthConfig(splits={"train": 2, "test": 2}, frames=10, persons=8, occluders=1, size=(320, 180), seed=2)
    return write_layout("jta", tmp_path_factory.mktemp("jta") / "raw", config)


def test_synth_layout_converts_with_videos_and_extracted_frames(synth_jta, tmp_path) -> None:
    ds = convert_jta(synth_jta, tmp_path / "ds", workers=2, options=JTAOptions(extract_frames=True, stride=3))
    assert validate_dataset(ds.root) == []
    assert ds.manifest.camera["width"] == 320 and ds.manifest.camera["K"][0][0] == pytest.approx(1158 / 6)
    data = ds.read_split("test")
    assert (data.images["frame"].to_numpy() % 3 == 1).all()  # stride 3 from frame 1
    assert data.keypoints_3d is not None and (data.instances["track_id"] >= 0).all()
    # The same frame from the video and from the extracted JPEG.
    some = data.images["image_id"].to_numpy()[:2]
    from_video = dict(iter_split_images(ds, "test", some))
    extracted = ds.image_path(data.images["file_name"].iloc[0])
    from occbench.datasets.media import load_image_rgb

    diff = np.abs(load_image_rgb(extracted).astype(int) - from_video[int(some[0])].astype(int)).mean()
    assert diff < 3.0  # JPEG re-encoding only


def test_resume_after_a_kill(synth_jta, tmp_path) -> None:
    out = tmp_path / "ds"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OCCBENCH_NO_PROGRESS": "1"}
    cmd = [sys.executable, "-m", "occbench.cli", "convert", "jta", str(synth_jta), "--out", str(out)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    staging = tmp_path / "ds.partial"
    deadline = time.time() + 60
    while time.time() < deadline and len(list(staging.glob("*/images/*.parquet"))) < 1:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = {p.name: p.stat().st_mtime_ns for p in staging.glob("*/images/*.parquet")}
    assert 1 <= len(done_before) < 4 and not out.exists()
    result = subprocess.run([*cmd, "--resume"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for name, mtime in done_before.items():
        assert next(out.glob(f"*/images/{name}")).stat().st_mtime_ns == mtime  # kept, not redone
    ds = open_dataset(out)
    assert sorted(ds.manifest.splits["train"].parts + ds.manifest.splits["test"].parts) == [
        f"seq_{i}" for i in range(4)
    ]
    assert validate_dataset(out) == []
    fresh = convert_jta(synth_jta, tmp_path / "fresh", workers=1)
    assert ds.manifest.content_hash == fresh.manifest.content_hash  # resumed == converted in one go


BAD_JTA = {
    "duplicate row": (lambda rows: [*rows, rows[5]], "duplicate row for frame 1, person 4, joint 5"),
    "unknown joint id": (
        lambda rows: [r if i != 3 else [*r[:2], 25.0, *r[3:]] for i, r in enumerate(rows)],
        "unknown joint id 25",
    ),
    "row of wrong length": (lambda rows: [r if i != 7 else r[:9] for i, r in enumerate(rows)], "row 7 (frame 1)"),
    "frame beyond the image ids": (
        lambda rows: [*rows, [10_000_000, *rows[0][1:]]],
        "row 22 (frame 1e+07), field 'frame': frame numbers must be below 10,000,000",
    ),
}


@pytest.mark.parametrize("case", list(BAD_JTA))
def test_bad_jta_rows(tmp_path, case) -> None:
    mutate, message = BAD_JTA[case]
    write_jta(tmp_path, "test", "seq_2", mutate(person_rows(1, 4, 30, 30)))
    with pytest.raises(OccbenchError) as err:
        convert_jta(tmp_path, tmp_path / "ds", options=JTAOptions(no_videos=True, frame_size=(320, 240)))
    text = str(err.value)
    assert message in text and "seq_2" in text and "frame 1" in text
    assert not (tmp_path / "ds").exists()


def test_sequence_numbers_must_fit_the_image_ids(tmp_path) -> None:
    write_jta(tmp_path, "test", "seq_10000", person_rows(1, 4, 30, 30))
    with pytest.raises(OccbenchError, match="sequence numbers must be below 10,000") as err:
        convert_jta(tmp_path, tmp_path / "ds", options=JTAOptions(no_videos=True, frame_size=(320, 240)))
    assert "seq_10000" in str(err.value)


def test_bad_videos(tmp_path) -> None:
    rows = person_rows(1, 4, 30, 30) + person_rows(5, 4, 30, 30)
    write_jta(tmp_path / "missing", "test", "seq_1", rows)
    with pytest.raises(OccbenchError, match=r"video not found.*--no-videos"):
        convert_jta(tmp_path / "missing", tmp_path / "o1")
    write_jta(tmp_path / "short", "test", "seq_1", rows, video_frames=3)
    with pytest.raises(OccbenchError, match="video has 3 frames, annotations go to frame 5") as err:
        convert_jta(tmp_path / "short", tmp_path / "o2")
    assert "seq_1.mp4" in str(err.value)
    write_jta(tmp_path / "corrupt", "test", "seq_1", rows)
    (tmp_path / "corrupt" / "videos" / "test").mkdir(parents=True)
    (tmp_path / "corrupt" / "videos" / "test" / "seq_1.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"junk" * 50)
    with pytest.raises(OccbenchError, match="cannot open video"):
        convert_jta(tmp_path / "corrupt", tmp_path / "o3")


def test_jta_ext_layout_alignment_nan_and_errors(tmp_path) -> None:
    config = SynthConfig(splits={"test": 2}, frames=8, persons=6, occluders=0, size=(320, 180), seed=4)
    raw = write_layout("jta-ext", tmp_path / "raw", config, frame_offset=2)
    ds = convert_jta_ext(raw, tmp_path / "ds")
    assert {a["offset"] for a in ds.manifest.provenance["alignment"].values()} == {2}
    data = ds.read_split("test")
    assert (data.images["frame"] >= 1).all()  # frame 0 dropped
    assert data.images["file_name"].iloc[0] == f"seq_0/{data.images['frame'].iloc[0] + 2}.jpeg"
    assert json.loads(data.images["extra"].iloc[0])["fov"] > 0 and validate_dataset(ds.root) == []
    # A NaN row cuts the sequence with a warning; a missing image makes seq_1 ambiguous -> skipped.
    csv = raw / "seq_0" / "coords.csv"
    lines = csv.read_text().splitlines()
    cut = len(lines) // 2
    lines[cut] = ",".join(["nan" if i == 3 else v for i, v in enumerate(lines[cut].split(","))])
    csv.write_text("\n".join(lines) + "\n")
    last = max(int(p.stem) for p in (raw / "seq_1").glob("*.jpeg"))
    (raw / "seq_1" / f"{last}.jpeg").unlink()
    (raw / "seq_1" / "99.jpeg").write_bytes((raw / "seq_1" / "2.jpeg").read_bytes())
    ds2 = convert_jta_ext(raw, tmp_path / "ds2")
    assert any("contains NaN" in w for w in ds2.manifest.warnings)
    assert "seq_1" in ds2.manifest.provenance["skipped_sequences"]
    assert ds2.manifest.splits["test"].parts == ["seq_0"]
    fixed = convert_jta_ext(raw, tmp_path / "ds3", frame_offsets={"seq_1": 2})
    assert fixed.manifest.splits["test"].parts == ["seq_0", "seq_1"]
    assert not any("camera pose differs" in w for w in fixed.manifest.warnings)
    # A row whose camera pose disagrees with its frame's first row: warned, the first row's pose kept.
    lines = (raw / "seq_1" / "coords.csv").read_text().splitlines()
    header = lines[0].split(",")
    rows_of = [i for i, line in enumerate(lines[1:], 1) if line.split(",")[0] == "3"]
    kept = float(lines[rows_of[0]].split(",")[header.index("cam_3D_x")])
    moved = lines[rows_of[-1]].split(",")
    moved[header.index("cam_3D_x")] = str(kept + 1.5)
    lines[rows_of[-1]] = ",".join(moved)
    (raw / "seq_1" / "coords.csv").write_text("\n".join(lines) + "\n")
    warned = convert_jta_ext(raw, tmp_path / "ds4", frame_offsets={"seq_1": 2})
    assert [w for w in warned.manifest.warnings if "camera pose differs" in w] == [
        f"{raw / 'seq_1' / 'coords.csv'}: the camera pose differs between rows of 1 frames (first: frame 3); "
        "each image keeps its frame's first row's pose"
    ]
    images = warned.read_split("test").images
    frame3 = images[(images["sequence"] == "seq_1") & (images["frame"] == 3)]
    assert json.loads(frame3["extra"].iloc[0])["cam_3D_x"] == kept
    # A CSV missing columns.
    header, *body = (raw / "seq_0" / "coords.csv").read_text().splitlines()
    (raw / "seq_0" / "coords.csv").write_text(
        "\n".join([header.replace(",fov", "")] + [b.rsplit(",", 1)[0] for b in body]) + "\n"
    )
    with pytest.raises(OccbenchError, match=r"missing columns \['fov'\]") as err:
        read_coords(raw / "seq_0" / "coords.csv")
    assert err.value.field == "header"


def _frames_folder(folder: Path, numbers) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n in numbers:
        (folder / f"{n}.jpeg").write_bytes(b"")
    return folder


def test_offset_detection_unique_ambiguous_and_none(tmp_path) -> None:
    rows = np.zeros((5, 10))
    rows[:, 0] = [1, 2, 3, 4, 5]  # kept frames; the CSV lists 0..5
    listed = np.arange(6)
    unique = detect_offset(rows, _frames_folder(tmp_path / "a", range(2, 8)), listed)
    assert unique.offset == 2
    # Images 1..7 fit offsets 1 (image 7 has no frame) and 2 (image 1 has none): neither both ways.
    assert detect_offset(rows, _frames_folder(tmp_path / "b", range(1, 8)), listed).offset is None
    # Images 2..7 with the CSV listing frames 0..6 fit offsets 1 and 2 both ways: never guessed.
    ambiguous = detect_offset(rows, _frames_folder(tmp_path / "c", range(2, 8)), np.arange(7))
    assert ambiguous.offset is None and "[1, 2]" in ambiguous.reason
    none = detect_offset(rows, _frames_folder(tmp_path / "d", [1, 50]), listed)
    assert none.offset is None and "no offset" in none.reason


def test_convert_jta_cli_errors_name_the_record(tmp_path) -> None:
    from typer.testing import CliRunner

    from occbench.cli import app

    write_jta(tmp_path, "test", "seq_3", [*person_rows(1, 4, 30, 30), person_rows(1, 4, 30, 30)[2]])
    result = CliRunner().invoke(app, ["convert", "jta", str(tmp_path), "--out", str(tmp_path / "ds"), "--no-videos"])
    assert result.exit_code != 0
    assert "seq_3" in result.output and "duplicate row for frame 1, person 4, joint 2" in result.output
    assert not (tmp_path / "ds").exists()  # the staging folder stays for --resume


def _streamed_and_whole(monkeypatch, root: Path, out: Path, options: JTAOptions, chunk: int):
    """Convert twice: streamed in ``chunk``-byte chunks, and in one piece; count the paths taken."""
    import occbench.datasets.jta as jta

    taken = {"whole": 0}
    whole = jta.parse_rows  # only the one-piece conversion parses the whole file

    def counting(*args, **kwargs):
        taken["whole"] += 1
        return whole(*args, **kwargs)

    monkeypatch.setattr(jta, "parse_rows", counting)
    monkeypatch.setattr(jta, "STREAM_CHUNK_BYTES", chunk)
    streamed = convert_jta(root, out / "streamed", options=options).read_split("test")
    streamed_whole = taken["whole"]
    monkeypatch.setattr(jta, "STREAM_CHUNK_BYTES", 1 << 40)
    one_piece = convert_jta(root, out / "whole", options=options).read_split("test")
    return streamed, one_piece, streamed_whole


def assert_same_split(a, b) -> None:
    import pandas as pd

    pd.testing.assert_frame_equal(a.images, b.images)
    pd.testing.assert_frame_equal(a.instances, b.instances)
    for name in ("keypoints", "visibility", "keypoints_3d"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def crowded_sequence(frames: int, people: int, seed: int = 0, skip_frames=()) -> list:
    """Rows frame by frame; each frame's people listed in shuffled order (allowed: the file is
    only required to be in frame order); ``skip_frames`` have nobody."""
    rng = np.random.default_rng(seed)
    rows = []
    for f in range(1, frames + 1):
        if f in skip_frames:
            continue
        for pid in rng.permutation(people):
            x, y = rng.uniform(-40, 300), rng.uniform(-20, 200)
            occluded = tuple(np.flatnonzero(rng.random(22) < 0.3))
            self_occluded = tuple(np.flatnonzero(rng.random(22) < 0.2))
            rows += person_rows(f, int(pid) + 100, x, y, occluded, self_occluded)
    return rows


@pytest.mark.parametrize(
    ("chunk", "options"),
    [
        (3000, JTAOptions(no_videos=True, frame_size=(320, 240))),  # chunks smaller than a frame: carried
        (20_000, JTAOptions(no_videos=True, frame_size=(320, 240), stride=2, frames=(2, 11))),
        (9_000, JTAOptions(no_videos=True, frame_size=(320, 240), schema="jta22", box="occnet", min_box_size=20)),
    ],
)
def test_streamed_conversion_equals_one_piece(tmp_path, monkeypatch, chunk, options) -> None:
    write_jta(tmp_path / "raw", "test", "seq_3", crowded_sequence(12, 6, skip_frames=(1, 5, 6, 12)))
    streamed, one_piece, fallbacks = _streamed_and_whole(monkeypatch, tmp_path / "raw", tmp_path, options, chunk)
    assert fallbacks == 0  # really streamed
    assert_same_split(streamed, one_piece)
    assert len(streamed.instances) > 0 and streamed.images["crowd_index_recomputed"].max() > 0
    # Frames without people are images too; ids carry on across chunks.
    assert streamed.instances["instance_id"].is_monotonic_increasing


def test_stream_falls_back_to_one_piece_for_frames_out_of_order(tmp_path, monkeypatch) -> None:
    rows = crowded_sequence(6, 5)
    rows = rows[len(rows) // 2 :] + rows[: len(rows) // 2]  # later frames first
    write_jta(tmp_path / "raw", "test", "seq_3", rows)
    options = JTAOptions(no_videos=True, frame_size=(320, 240))
    streamed, one_piece, fallbacks = _streamed_and_whole(monkeypatch, tmp_path / "raw", tmp_path, options, 3000)
    assert fallbacks == 1
    assert_same_split(streamed, one_piece)
    assert streamed.images["frame"].tolist() == list(range(1, 7))


def test_error_in_a_late_chunk_names_its_row(tmp_path, monkeypatch) -> None:
    import occbench.datasets.jta as jta

    rows = crowded_sequence(10, 5)
    rows.insert(900, list(rows[899]))  # a duplicate deep in the file
    write_jta(tmp_path, "test", "seq_2", rows)
    monkeypatch.setattr(jta, "STREAM_CHUNK_BYTES", 3000)
    with pytest.raises(OccbenchError) as err:
        convert_jta(tmp_path, tmp_path / "ds", options=JTAOptions(no_videos=True, frame_size=(320, 240)))
    assert "duplicate row" in str(err.value) and "rows 899 and 900" in str(err.value)
    assert not list((tmp_path / "ds.partial").glob("*/instances/*.parquet"))  # nothing half-written


def test_row_chunks_cover_whole_rows(tmp_path) -> None:
    from occbench.datasets.jta import row_chunks

    rows = crowded_sequence(3, 4)
    for text in (json.dumps(rows), json.dumps(rows, separators=(",", ":")), json.dumps(rows, indent=1)):
        raw = text.encode()
        spans = row_chunks(raw, 500)
        assert len(spans) > 5 and spans[0][0] == 0 and spans[-1][1] == len(raw)
        longest_row = max(len(json.dumps(r, indent=1)) for r in rows) + 10
        assert spans[-1][1] - spans[-1][0] <= 500 // 4 + longest_row  # a short last chunk
        assert all(b - a <= 500 + longest_row for a, b in spans)
        pieces = [raw[a:b] for a, b in spans]
        assert all(p.rstrip().endswith(b",") for p in pieces[:-1])
        assert all(p.lstrip().startswith(b"[") for p in pieces[1:])
        # Each span is whole rows: together, in order, exactly the file's rows.
        found = []
        for i, piece in enumerate(pieces):
            body = piece.strip()
            body = body[1:] if i == 0 else body  # the outer "["
            body = body[:-1] if i == len(pieces) - 1 else body.rstrip(b",")  # the outer "]" / separator
            found += json.loads(b"[" + body + b"]")
        assert found == rows
    assert row_chunks(b"[[1,2]]", 500) == [(0, 7)]
