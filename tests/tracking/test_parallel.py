"""The forked per-joint accumulators give exactly the serial path's events and table."""

from __future__ import annotations

import pandas as pd
import pytest

from occbench.perf.tracking import make_sequence
from occbench.skeletons import JTA22
from occbench.tracking import metrics
from occbench.tracking.frames import build_frame_index
from occbench.tracking.link import DETECT_AND_TRACK, link
from occbench.tracking.metrics import TrackingGroundTruth, compute_tracking, tracking_table


@pytest.mark.parametrize("poseval_compat", [False, True])
def test_parallel_equals_serial(monkeypatch, poseval_compat) -> None:
    data, preds = make_sequence(40, 12, seed=3)
    linked = link(preds, build_frame_index(data.images), DETECT_AND_TRACK).predictions
    gt = TrackingGroundTruth.from_split(data, JTA22, name="p", split="test")
    serial = compute_tracking(gt, linked, poseval_compat=poseval_compat, workers=1)
    monkeypatch.setattr(metrics, "PARALLEL_MIN_UPDATES", 0)
    parallel = compute_tracking(gt, linked, poseval_compat=poseval_compat, workers=2)
    assert serial.accumulators and not parallel.accumulators  # the parallel path really ran
    pd.testing.assert_frame_equal(serial.events, parallel.events, check_exact=True)
    assert len(serial.events) > 40 * 12 * JTA22.num_joints * 0.9
    assert (serial.events["type"] == "SWITCH").sum() > 0  # the sequence has switches to agree on
    pd.testing.assert_frame_equal(tracking_table(serial), tracking_table(parallel), check_exact=True)
