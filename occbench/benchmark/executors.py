"""Executors: where a matrix's cells run. ``local`` (sequential, this machine) and ``ray``.

An executor takes the pending cells and yields ``(planned cell, outcome)`` pairs as cells
finish; the runner stores each one as it arrives. Both executors call the same
``cell_executor``, so their results are identical.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from occbench.benchmark.runner import CellExecutor, CellOutcome, PlannedCell
from occbench.benchmark.spec import Cell, MatrixSpec
from occbench.errors import OccbenchError
from occbench.progress import make_progress

ExecutorFn = Callable[
    [MatrixSpec, list[PlannedCell], Path, CellExecutor, str | None], Iterator[tuple[PlannedCell, CellOutcome]]
]


def local_executor(
    spec: MatrixSpec, todo: list[PlannedCell], work_root: Path, cell_executor: CellExecutor, address: str | None
) -> Iterator[tuple[PlannedCell, CellOutcome]]:
    with make_progress() as progress:
        task = progress.add_task(f"matrix {spec.name}", total=len(todo))
        for planned in todo:
            progress.update(task, description=f"{spec.name}: {planned.cell.label}")
            yield planned, cell_executor(spec, planned.cell, work_root / planned.key)
            progress.advance(task)


def _ray_cell(
    spec: MatrixSpec, cell: Cell, work_dir: str, cell_executor: CellExecutor
) -> tuple[CellOutcome, dict[str, bytes]]:
    """Runs on a Ray worker; ships the prediction files back as bytes (workers may not share a disk)."""
    outcome = cell_executor(spec, cell, Path(work_dir))
    data = {}
    for name in ("predictions_file", "tracked_file"):
        path = getattr(outcome, name)
        if path is not None and Path(path).exists():
            data[name] = Path(path).read_bytes()
            setattr(outcome, name, None)
    return outcome, data


def ray_executor(
    spec: MatrixSpec, todo: list[PlannedCell], work_root: Path, cell_executor: CellExecutor, address: str | None
) -> Iterator[tuple[PlannedCell, CellOutcome]]:
    try:
        import ray
    except ImportError:
        raise OccbenchError("the ray executor needs Ray: pip install 'occbench[ray]'", field="--executor") from None
    if not todo:
        return
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    try:
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        remote = ray.remote(num_gpus=gpus, max_retries=0)(_ray_cell)
        pending = {remote.remote(spec, p.cell, str(work_root / p.key), cell_executor): p for p in todo}
        with make_progress() as progress:
            task = progress.add_task(f"matrix {spec.name} on Ray", total=len(todo))
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    planned = pending.pop(ref)
                    try:
                        outcome, data = ray.get(ref)
                    except Exception as exc:  # a worker that died or raised: the cell failed, the rest go on
                        outcome, data = CellOutcome(None, {}, error=f"{type(exc).__name__}: {exc}"), {}
                    if data:
                        local_dir = Path(tempfile.mkdtemp(prefix="occbench-ray-"))
                        for name, content in data.items():
                            local = local_dir / f"{name}.parquet"
                            local.write_bytes(content)
                            setattr(outcome, name, local)
                    progress.advance(task)
                    yield planned, outcome
    finally:
        if started_here:
            ray.shutdown()


EXECUTORS: dict[str, ExecutorFn] = {"local": local_executor, "ray": ray_executor}
