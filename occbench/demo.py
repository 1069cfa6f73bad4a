"""``occbench demo``: the main job end to end on a fresh machine, with no data and no GPU.

1. Generate two small synthetic crowd datasets with exact occlusion flags: one in the native
   CrowdPose layout (still images) and one in the native JTA layout (annotation JSON + MP4 video).
2. Convert both with the real converters and validate them.
3. Run the matrix ``benchmark/demo.toml``: the tiny checkpoints shipped inside occbench
   (SimpleBaseline, HRNet, OccNet, OccNetCB) under ground-truth and jittered boxes, with OKS NMS
   and pose NMS; the video dataset's cells also link and score tracks.
4. Write the leaderboards (Markdown + CSV) and the self-contained HTML report, and print where.

Every step shows progress; finished steps and matrix cells are reused on a re-run (``--fresh``
starts over). Data and the results store go under ``--out`` (default ``datasets/demo``).
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from occbench.datasets.store import Dataset, open_dataset
from occbench.datasets.synth.generate import SynthConfig
from occbench.datasets.synth.writers import write_layout
from occbench.datasets.validate import validate_dataset
from occbench.errors import OccbenchError

# Inside the package, so a wheel install has it; benchmark/demo.toml in the repository links here.
DEMO_SPEC = Path(__file__).resolve().parent / "benchmark" / "demo.toml"
# Different seeds from the shipped checkpoints' training data: the demo scores unseen scenes.
DEMO_CROWDPOSE = SynthConfig(splits={"test": 2}, frames=16, persons=12, occluders=2, size=(640, 360), seed=2026,
                             stride=2)  # fmt: skip
DEMO_JTA = SynthConfig(splits={"test": 1}, frames=30, persons=12, occluders=2, size=(640, 360), seed=2027)
SPEC_DATASET_ROOT = "datasets/demo/"


@dataclass
class DemoResult:
    datasets: dict[str, Dataset]
    store: Path
    leaderboards: list[Path]
    report: Path
    seconds: float
    failed_cells: list[str] = field(default_factory=list)


def _dataset(name: str, out: Path, build, console: Console) -> Dataset:
    target = out / name
    if (target / "manifest.json").exists():
        console.print(f"{name}: reusing {target}")
        return open_dataset(target)
    dataset = build(target)
    problems = validate_dataset(target)
    if problems:
        raise OccbenchError(f"the converted demo dataset is invalid: {problems[0]}", file=target)
    console.print(f"{name}: {target} (valid)")
    return dataset


def build_datasets(out: Path, console: Console) -> dict[str, Dataset]:
    from occbench.datasets.crowdpose import convert_crowdpose
    from occbench.datasets.jta import convert_jta

    def crowdpose(target: Path) -> Dataset:
        raw = out / "raw" / "synth-crowdpose"
        if not (raw / "synth_config.json").exists():
            write_layout("crowdpose", raw, DEMO_CROWDPOSE, overwrite=True)
        return convert_crowdpose([raw / "annotations"], target, image_root=raw / "images", name="synth-crowdpose",
                                 overwrite=True)  # fmt: skip

    def jta(target: Path) -> Dataset:
        raw = out / "raw" / "synth-jta"
        if not (raw / "synth_config.json").exists():
            write_layout("jta", raw, DEMO_JTA, overwrite=True)
        return convert_jta(raw, target, workers=1, overwrite=True, name="synth-jta")

    return {
        "synth-crowdpose": _dataset("synth-crowdpose", out, crowdpose, console),
        "synth-jta": _dataset("synth-jta", out, jta, console),
    }


def resolved_spec(spec: Path, out: Path) -> Path:
    """A copy of the demo spec whose dataset dirs point into ``out`` (written beside the data)."""
    text = spec.read_text(encoding="utf-8")
    root = out.resolve().as_posix().rstrip("/") + "/"
    text = re.sub(r'(dir\s*=\s*")' + re.escape(SPEC_DATASET_ROOT), lambda m: m.group(1) + root, text)
    target = out / "demo.toml"
    target.write_text(text, encoding="utf-8")
    return target


def run_demo(
    out: Path = Path("datasets/demo"),
    *,
    leaderboards: Path = Path("leaderboards/demo"),
    report: Path = Path("reports/demo.html"),
    spec: Path = DEMO_SPEC,
    fresh: bool = False,
    console: Console | None = None,
) -> DemoResult:
    from occbench.benchmark.runner import run_matrix
    from occbench.benchmark.store import ResultsStore
    from occbench.report.html import write_report
    from occbench.report.leaderboard import write_leaderboards

    console = console or Console(stderr=True)
    started = time.perf_counter()
    if not spec.is_file():
        raise OccbenchError("the demo matrix spec is missing; pass --spec benchmark/demo.toml", file=spec)
    if fresh and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)

    console.rule("[bold]1/4 synthetic crowds in the native CrowdPose and JTA layouts, converted")
    datasets = build_datasets(out, console)

    console.rule("[bold]2/4 benchmark matrix (shipped tiny checkpoints)")
    store_dir = out / "demo"  # the store folder names the leaderboards
    summary = run_matrix(resolved_spec(spec, out), store_dir=store_dir)
    console.print(f"cells: {summary.done} run, {summary.skipped} reused, {summary.failed} failed")

    console.rule("[bold]3/4 leaderboards")
    store = ResultsStore(store_dir)
    written = write_leaderboards(store, leaderboards)
    console.print(f"leaderboards: {leaderboards}/README.md (+ {len(written) - 1} CSV)")

    console.rule("[bold]4/4 HTML report")
    write_report([store], report, title="occbench demo")
    seconds = time.perf_counter() - started
    return DemoResult(datasets, store_dir, written, report, seconds, summary.failures)
