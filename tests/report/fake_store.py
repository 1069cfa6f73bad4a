"""A results store filled with deterministic cells carrying every breakdown the report plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from occbench.benchmark.runner import CellOutcome, run_matrix
from occbench.benchmark.spec import Cell, MatrixSpec, stable_hash

SPEC = """
name = "report-unit"

[[models]]
name = "{model}"
arch = "simplebaseline_tiny"
nms = ["oks", "pose"]

[[models]]
name = "occnet_tiny"
arch = "occnet_tiny"

[[datasets]]
name = "{dataset}"
dir = "datasets/none"
split = "test"

[[protocols]]
name = "gt"
boxes = "gt"

[[protocols]]
name = "jitter-0.1"
boxes = "jitter:0.1"
"""


def rich_cell(spec: MatrixSpec, cell: Cell, work_dir: Path) -> CellOutcome:
    rng = np.random.default_rng(int(stable_hash(cell.identity())[:8], 16))
    rows = []

    def add(breakdown, subset, metric, value):
        rows.append((breakdown, subset, metric, float(value)))

    for metric in ("AP", "AP50", "AP75", "AR", "AR50", "AR75", "AP_easy", "AP_medium", "AP_hard"):
        add("standard", "all", metric, rng.uniform(0.3, 0.9))
    for convention in ("coco-analyze", "assigned"):
        for band in ("none", "partial", "heavy"):
            add(f"occlusion:{convention}", band, "AP", rng.uniform(0.2, 0.9))
    for lo in np.arange(0, 1.0, 0.2):
        add("crowd_index_sweep:published", f"{lo:.1f}-{lo + 0.2:.1f}", "AP", rng.uniform(0.2, 0.9))
    for subset in ("visible", "occluded", "self_occluded"):
        add("keypoint_subset", subset, "AP", rng.uniform(0.1, 0.9))
    for joint in ("left_wrist", "head"):
        for vis in ("visible", "occluded"):
            add("joint_visibility", f"{joint}/{vis}", "ks_mean", rng.uniform(0, 1))
    for vis in ("all", "visible", "occluded"):
        shares = rng.dirichlet(np.ones(5))
        for name, share in zip(("good", "jitter", "inversion", "swap", "miss"), shares, strict=True):
            add("errors", vis, name, share)
    for r in np.linspace(0, 1, 11):
        add("pr_curve", "oks=0.50", f"precision@recall={r:.2f}", max(0.0, 1 - r * rng.uniform(0.5, 1)))
    table = pd.DataFrame(rows, columns=["breakdown", "subset", "metric", "value"])
    table.insert(0, "run", cell.label)
    table.insert(1, "dataset", cell.dataset.name)
    table.insert(2, "split", cell.dataset.split)
    table.insert(3, "protocol", "crowdpose")
    return CellOutcome(table, {"device": "cpu", "persons_per_s": float(rng.uniform(100, 900))})


def make_store(tmp_path: Path, model: str = "simplebaseline_tiny", dataset: str = "synth") -> Path:
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(model=model.replace('"', '\\"'), dataset=dataset.replace('"', '\\"')))
    store = tmp_path / "store"
    run_matrix(spec, store_dir=store, cell_executor=rich_cell)
    return store
