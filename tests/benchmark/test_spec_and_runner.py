"""Matrix specs, cell planning, the results store, resume, failure isolation and executors."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from occbench.benchmark.runner import matrix_status, plan, run_matrix
from occbench.benchmark.spec import load_spec
from occbench.benchmark.store import ResultsStore
from occbench.errors import OccbenchError
from tests.benchmark import fake_cells

SPEC = """
name = "unit"

[[models]]
name = "alpha"
arch = "simplebaseline_tiny"
nms = ["oks", "pose"]

[[models]]
name = "{second}"
arch = "occnet_tiny"
decoder = "dark"

[[datasets]]
name = "synth"
dir = "datasets/synth"
split = "test"

[[protocols]]
name = "gt"
boxes = "gt"

[[protocols]]
name = "jitter-0.1"
boxes = "jitter:0.1"
"""


def write_spec(tmp_path, second="beta", text=None):
    path = tmp_path / "spec.toml"
    path.write_text(text if text is not None else SPEC.format(second=second))
    return path


def test_cells_expand_variants(tmp_path) -> None:
    spec = load_spec(write_spec(tmp_path))
    cells = spec.cells()
    assert len(cells) == 3 * 2  # alpha x {oks, pose} + beta, times two protocols
    assert {c.model.nms for c in cells if c.model.name == "alpha"} == {"oks", "pose"}
    keys = {p.key for p in plan(spec, ResultsStore(tmp_path / "store"))}
    assert len(keys) == 6


@pytest.mark.parametrize(
    ("body", "line", "key", "message"),
    [
        (
            'name = "x"\n[[models]]\nname = "m"\narch = "a"\ndecoder = "softargmax"\n',
            5,
            "models[0].decoder",
            "not one of",
        ),
        ('[[models]]\nname = "m"\n', 1, "models[0]", "either 'arch'"),
        ('[[models]]\nname = "m"\narch = "a"\nbatch_size = "big"\n', 4, "models[0].batch_size", "expected int"),
        ('[[models]]\nname = "m"\narch = "a"\ncolour = 1\n', 4, "models[0].colour", "unknown key"),
        (
            '[[models]]\nname = "m"\narch = "a"\n[[datasets]]\nname = "d"\ndir = "x"\nsplit = "s"\n'
            '[[protocols]]\nname = "p"\nboxes = "wobbly"\n',
            10,
            "protocols[0].boxes",
            "must be 'gt'",
        ),
        ('[[models]]\nname = "m"\narch = "a"\n', None, "datasets", "at least one"),
    ],
)
def test_spec_errors_point_to_line_and_key(tmp_path, body, line, key, message) -> None:
    path = write_spec(tmp_path, text=body)
    with pytest.raises(OccbenchError) as err:
        load_spec(path)
    assert err.value.field == key and message in str(err.value)
    if line is not None:
        assert err.value.file == f"{path}:{line}"


def test_run_resume_and_force(tmp_path) -> None:
    spec = write_spec(tmp_path)
    store = tmp_path / "store"
    first = run_matrix(spec, store_dir=store, cell_executor=fake_cells.ok_cell)
    assert (first.done, first.skipped, first.failed) == (6, 0, 0)
    again = run_matrix(spec, store_dir=store, cell_executor=fake_cells.ok_cell)
    assert (again.done, again.skipped) == (0, 6)
    forced = run_matrix(spec, store_dir=store, cell_executor=fake_cells.ok_cell, force=True)
    assert forced.done == 6
    metrics = ResultsStore(store).metrics()
    assert len(metrics) == 12 and metrics["cell"].nunique() == 6


def test_failure_is_isolated_and_retried(tmp_path) -> None:
    spec = write_spec(tmp_path, second="broken")
    store = tmp_path / "store"
    summary = run_matrix(spec, store_dir=store, cell_executor=fake_cells.failing_cell)
    assert (summary.done, summary.failed) == (4, 2) and not summary.ok
    status = matrix_status(spec, store)
    assert (status["state"] == "failed").sum() == 2
    assert status.loc[status["state"] == "failed", "error"].str.contains("exploded").all()
    # A later run retries only the failed cells.
    retry = run_matrix(spec, store_dir=store, cell_executor=fake_cells.ok_cell)
    assert (retry.done, retry.skipped, retry.failed) == (2, 4, 0)


KILL_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from occbench.benchmark.runner import run_matrix
    from tests.benchmark import fake_cells
    count = 0
    def cell(spec, cell, work_dir):
        global count
        count += 1
        if count == 4:
            os.kill(os.getpid(), 9)  # killed mid-matrix, mid-cell
        return fake_cells.ok_cell(spec, cell, work_dir)
    run_matrix(sys.argv[1], store_dir=sys.argv[2], cell_executor=cell)
    """
)


def test_kill_mid_run_then_resume(tmp_path) -> None:
    spec = write_spec(tmp_path)
    store = tmp_path / "store"
    script = tmp_path / "kill.py"
    script.write_text(KILL_SCRIPT)
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo), "OCCBENCH_NO_PROGRESS": "1"}
    proc = subprocess.run(
        [sys.executable, str(script), str(spec), str(store)], capture_output=True, text=True, cwd=repo, env=env
    )
    assert proc.returncode == -9, proc.stderr
    records = ResultsStore(store).records()
    assert len(records) == 3 and all(r.status == "done" for r in records)
    resumed = run_matrix(spec, store_dir=store, cell_executor=fake_cells.ok_cell)
    assert (resumed.done, resumed.skipped) == (3, 3)
    assert len(ResultsStore(store).records()) == 6
    assert not [p for p in (store / "cells").iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_ray_matches_local_and_survives_a_crashing_worker(tmp_path) -> None:
    ray = pytest.importorskip("ray")
    spec = write_spec(tmp_path, second="broken")
    local = run_matrix(spec, store_dir=tmp_path / "local", cell_executor=fake_cells.failing_cell)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = run_matrix(spec, store_dir=tmp_path / "ray", executor="ray", cell_executor=fake_cells.crashing_cell)
    finally:
        ray.shutdown()
    assert (remote.done, remote.failed) == (local.done, local.failed) == (4, 2)
    assert all("Worker" in f or "crash" in f.lower() or "died" in f.lower() for f in remote.failures)

    def table(store):
        m = ResultsStore(store).metrics().drop(columns=["cell"])
        return m.sort_values(["run", "metric"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(table(tmp_path / "local"), table(tmp_path / "ray"))


def test_runtime_lanes_reach_the_cells_and_are_type_checked(tmp_path) -> None:
    text = SPEC.format(second="beta") + "\n[runtime]\nthreads = 2\nlanes = 2\nworkers = 0\n"
    cells = load_spec(write_spec(tmp_path, text=text)).cells()
    assert {(c.runtime["lanes"], c.runtime["threads"], c.runtime["workers"]) for c in cells} == {(2, 2, 0)}
    bad = SPEC.format(second="beta") + '\n[runtime]\nlanes = "many"\n'
    with pytest.raises(OccbenchError) as err:
        load_spec(write_spec(tmp_path, text=bad))
    assert err.value.field == "runtime.lanes" and "expected int" in str(err.value)
