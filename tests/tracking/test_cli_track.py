"""The `track` verb and `evaluate --protocol posetrack` end to end through typer's CliRunner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from occbench.cli import app
from occbench.datasets.store import write_dataset
from occbench.evaluation import read_table
from occbench.predictions import read_predictions, write_predictions
from tests.tracking.helpers import K, by_frame, detections, scene, walk


@pytest.fixture
def video(tmp_path: Path) -> tuple[Path, Path]:
    frames = by_frame(walk(3, 100, 4, 8), walk(9, 420, -4, 8, y=260))
    write_dataset(
        tmp_path / "ds", "crowdpose14", {"test": scene(frames)}, name="hand", source="synth", area_convention="bbox"
    )
    preds = detections(frames, track_ids=False)
    preds.score[::5] = 0.5  # below Detect-and-Track's 0.95: filtered out
    write_predictions(tmp_path / "raw", preds)
    return tmp_path / "ds", tmp_path / "raw" / "predictions.parquet"


def test_track_then_evaluate_posetrack(video: tuple[Path, Path], tmp_path: Path) -> None:
    dataset, raw = video
    runner = CliRunner()
    result = runner.invoke(
        app, ["track", str(raw), "--dataset", str(dataset), "--split", "test", "--out", str(tmp_path / "tracked")]
    )
    assert result.exit_code == 0, result.output
    tracked = read_predictions(tmp_path / "tracked")
    n_raw = len(read_predictions(raw))
    assert len(tracked) == n_raw - len(range(0, n_raw, 5))
    assert (tracked.track_id >= 0).all()
    assert tracked.metadata["tracking"]["num_filtered"] == len(range(0, n_raw, 5))
    assert tracked.metadata["tracking"]["min_score"] == 0.95

    out = tmp_path / "metrics.csv"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--gt",
            str(dataset),
            "--split",
            "test",
            "--predictions",
            str(tmp_path / "tracked"),
            "--protocol",
            "posetrack",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    table = read_table(out)
    std = table[(table.breakdown == "standard") & (table.subset == "all")].set_index("metric")["value"]
    # 16 person-frames, 4 filtered (misses); each gap restarts the track (one switch per re-found person).
    filtered = len(range(0, n_raw, 5))
    assert std["num_objects"] == 16 * K and std["num_misses"] == filtered * K
    assert std["num_false_positives"] == 0
    assert std["precision"] == pytest.approx(1.0)
    assert std["recall"] == pytest.approx(12 / 16)
    assert table.attrs["provenance"]["protocol"] == "posetrack"
    assert set(table.breakdown) == {"standard", "joint", "occlusion:switch_frame", "crowd_index:recomputed"}


def test_track_bad_input_is_one_line(video: tuple[Path, Path], tmp_path: Path) -> None:
    dataset, raw = video
    preds = read_predictions(raw)
    preds.image_id = preds.image_id.copy()
    preds.image_id[4] = 424242
    write_predictions(tmp_path / "bad", preds)
    result = CliRunner().invoke(
        app,
        ["track", str(tmp_path / "bad"), "--dataset", str(dataset), "--split", "test", "--out", str(tmp_path / "o")],
    )
    assert result.exit_code == 1
    assert "record 4" in result.output and "unknown image id 424242" in result.output
    assert not (tmp_path / "o").exists()
    result = CliRunner().invoke(
        app,
        [
            "track",
            str(raw),
            "--dataset",
            str(dataset),
            "--split",
            "test",
            "--out",
            str(tmp_path / "o"),
            "--preset",
            "x",
        ],
    )
    assert result.exit_code == 1 and "unknown preset" in result.output
    result = CliRunner().invoke(
        app, ["evaluate", "--gt", str(dataset), "--split", "test", "--predictions", str(raw), "--protocol", "posetrack"]
    )
    assert result.exit_code == 1 and "link them first" in result.output


def test_track_output_is_independent_of_row_order(video: tuple[Path, Path], tmp_path: Path) -> None:
    dataset, raw = video
    preds = read_predictions(raw)
    write_predictions(tmp_path / "shuffled", preds.select(np.random.default_rng(1).permutation(len(preds))))
    runner = CliRunner()
    for name in ("raw", "shuffled"):
        src = raw if name == "raw" else tmp_path / "shuffled"
        args = [
            "track",
            str(src),
            "--dataset",
            str(dataset),
            "--out",
            str(tmp_path / f"t-{name}"),
            "--preset",
            "unfiltered",
        ]
        assert runner.invoke(app, args).exit_code == 0
    a, b = read_predictions(tmp_path / "t-raw"), read_predictions(tmp_path / "t-shuffled")
    np.testing.assert_array_equal(a.track_id, b.track_id)
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
