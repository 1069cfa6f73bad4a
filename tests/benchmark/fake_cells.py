"""Deterministic stand-ins for predict+evaluate, to test the runner's mechanics alone.

They live in a module (not a test function) so Ray workers can import them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from occbench.benchmark.runner import CellOutcome
from occbench.benchmark.spec import Cell, MatrixSpec, stable_hash


def metrics_for(cell: Cell) -> pd.DataFrame:
    value = int(stable_hash(cell.identity())[:6], 16) / 0xFFFFFF
    return pd.DataFrame(
        {
            "run": [cell.label] * 2,
            "dataset": [cell.dataset.name] * 2,
            "split": [cell.dataset.split] * 2,
            "protocol": ["crowdpose"] * 2,
            "breakdown": ["standard"] * 2,
            "subset": ["all"] * 2,
            "metric": ["AP", "AR"],
            "value": [value, value / 2],
        }
    )


def ok_cell(spec: MatrixSpec, cell: Cell, work_dir: Path) -> CellOutcome:
    return CellOutcome(metrics_for(cell), {"device": "cpu", "persons_per_s": 1.0})


def failing_cell(spec: MatrixSpec, cell: Cell, work_dir: Path) -> CellOutcome:
    if cell.model.name == "broken":
        return CellOutcome(None, {}, error="ValueError: the model exploded")
    return ok_cell(spec, cell, work_dir)


def crashing_cell(spec: MatrixSpec, cell: Cell, work_dir: Path) -> CellOutcome:
    """Kills its own process for the 'broken' model: a worker dying mid-run."""
    if cell.model.name == "broken":
        os._exit(3)
    return ok_cell(spec, cell, work_dir)
