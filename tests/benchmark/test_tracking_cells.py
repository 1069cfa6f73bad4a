"""Tracking cells: the runner's tracking rows equal evaluate_tracking called directly; spec settings."""

from __future__ import annotations

import os
import textwrap

import numpy as np
import pandas as pd
import pytest

from occbench.benchmark.runner import run_matrix
from occbench.benchmark.spec import load_spec
from occbench.benchmark.store import ResultsStore
from occbench.errors import OccbenchError
from occbench.report.leaderboard import build_leaderboards, write_leaderboards
from occbench.tracking import DETECT_AND_TRACK, evaluate_tracking, track_predictions
from tests.benchmark.video_dataset import SPEC, make_video_dataset

COLUMNS = ["breakdown", "subset", "metric", "value"]


@pytest.fixture(scope="module")
def tracked_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("trk")
    ds, preds = make_video_dataset(root)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        summary = run_matrix(root / "spec.toml", store_dir=root / "store")
    finally:
        os.chdir(cwd)
    assert summary.done == 1 and summary.failed == 0, summary.failures
    return root, ds, preds, ResultsStore(root / "store")


def test_tracking_rows_equal_a_direct_evaluation(tracked_store) -> None:
    root, ds, preds, store = tracked_store
    metrics = store.metrics()
    stored = metrics[metrics["protocol"] == "posetrack"][COLUMNS].reset_index(drop=True)
    track_predictions(preds, ds, "test", root / "direct.parquet", DETECT_AND_TRACK)
    direct = evaluate_tracking(ds, root / "direct.parquet", "test")[COLUMNS]
    pd.testing.assert_frame_equal(stored, direct, check_exact=True)
    # Known answer: persons 1 and 2 trade places at frame 4 (2 x 14 joint switches) and person 3 is
    # picked up by a new track after its missing frame (14 more, all of a heavily occluded person).
    total = stored[(stored["breakdown"] == "standard") & (stored["metric"] == "num_switches")]["value"].item()
    heavy = stored[
        (stored["breakdown"] == "occlusion:switch_frame")
        & (stored["subset"] == "heavy")
        & (stored["metric"] == "num_switches")
    ]["value"].item()
    assert (total, heavy) == (42, 14)
    # The pose table is still there, and the linked predictions are stored with the cell.
    assert (metrics["protocol"] == "crowdpose").any()
    (record,) = store.records()
    assert store.tracked_path(record.key) is not None
    assert record.provenance["tracking"]["num_tracks"] == 4


def test_leaderboard_tracking_columns_equal_the_store(tracked_store) -> None:
    root, _, _, store = tracked_store
    (board,) = build_leaderboards(store)
    metrics = store.metrics()
    track = metrics[(metrics["protocol"] == "posetrack") & (metrics["breakdown"] == "standard")]
    mota = track[track["metric"] == "MOTA"]["value"].item()
    assert board.table["MOTA"].item() == mota == pytest.approx(1 - (28 + 42 + 14) / 336)
    assert board.table["IDs"].item() == 42 and board.table["IDs heavy occ"].item() == 14
    # The pose AP column reads the pose table, never the tracking table's own AP.
    pose_ap = metrics[
        (metrics["protocol"] == "crowdpose") & (metrics["breakdown"] == "standard") & (metrics["metric"] == "AP")
    ]["value"].item()
    assert board.table["AP"].item() == pose_ap
    write_leaderboards(store, root / "lb")
    csv = pd.read_csv(root / "lb" / f"{board.slug}.csv")
    assert csv["MOTA"].item() == mota
    assert "| 75.0 | 42 | 14 |" in (root / "lb" / "README.md").read_text()


def test_cells_without_tracking_keep_their_keys_and_columns(tmp_path) -> None:
    plain = SPEC.replace("track = true", "")
    (tmp_path / "a.toml").write_text(plain)
    (tmp_path / "b.toml").write_text(SPEC)
    a, b = load_spec(tmp_path / "a.toml").cells()[0], load_spec(tmp_path / "b.toml").cells()[0]
    assert not a.tracks and b.tracks
    assert "track" not in a.identity()["evaluation"] and "track" not in a.identity()["model"]
    assert b.identity()["evaluation"]["track"] is True and b.identity() != a.identity()
    posetrack = SPEC.replace("track = true", 'protocol = "posetrack"')
    (tmp_path / "c.toml").write_text(posetrack)
    assert load_spec(tmp_path / "c.toml").cells()[0].tracks


def test_split_without_sequences_skips_tracking(tmp_path) -> None:
    from occbench.benchmark.cells import run_cell
    from occbench.datasets.store import write_dataset
    from tests.tracking.helpers import detections, scene

    data = scene([[(1, 100.0, 200.0)]])
    data.images["sequence"] = ""
    write_dataset(tmp_path / "ds", "crowdpose14", {"test": data}, name="still", source="t", area_convention="bbox")
    from occbench.predictions import write_predictions

    write_predictions(tmp_path / "preds.parquet", detections([[(1, 100.0, 200.0)]], track_ids=False))
    (tmp_path / "spec.toml").write_text(SPEC)
    spec = load_spec(tmp_path / "spec.toml")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        outcome = run_cell(spec, spec.cells()[0], tmp_path / "work")
    finally:
        os.chdir(cwd)
    assert outcome.tracked_file is None and "skipped" in outcome.provenance["tracking"]
    assert set(outcome.metrics["protocol"]) == {"crowdpose"}
    assert np.isclose(outcome.metrics.query("metric == 'AP' and breakdown == 'standard'")["value"].item(), 1.0)


def test_bad_track_preset_names_line_and_key(tmp_path) -> None:
    path = tmp_path / "spec.toml"
    path.write_text(SPEC + textwrap.dedent('track_preset = "hungarian"\n'))
    with pytest.raises(OccbenchError) as err:
        load_spec(path)
    message = str(err.value)
    assert f"{path}:19" in message and "evaluation.track_preset" in message and "detect-and-track" in message
