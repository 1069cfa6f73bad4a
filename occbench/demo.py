"""``occbench demo``: the main job end to end on a fresh machine, no data and no GPU needed.

Today's steps: generate a small synthetic crowd dataset in the native CrowdPose layout,
convert it into the unified format, validate it and print its summary. Every step shows
progress; outputs go under ``--out`` (default ``datasets/demo``) and are rebuilt when asked.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from occbench.datasets.crowdpose import convert_crowdpose
from occbench.datasets.store import Dataset
from occbench.datasets.summary import print_summary, summarize
from occbench.datasets.synth.generate import SynthConfig
from occbench.datasets.synth.writers import write_layout
from occbench.datasets.validate import validate_dataset
from occbench.errors import OccbenchError

DEMO_SYNTH = SynthConfig(splits={"train": 2, "test": 1}, frames=12, persons=14, occluders=2, size=(640, 360),
                         seed=2026, stride=2)  # fmt: skip


@dataclass
class DemoResult:
    raw: Path
    dataset: Dataset


def run_demo(out: Path = Path("datasets/demo"), *, fresh: bool = False, console: Console | None = None) -> DemoResult:
    console = console or Console(stderr=True)
    if fresh and out.exists():
        shutil.rmtree(out)
    raw = out / "synth-crowdpose-raw"
    converted = out / "synth-crowdpose"
    console.rule("[bold]1/3 synthetic crowds in the native CrowdPose layout")
    if not (raw / "synth_config.json").exists():
        write_layout("crowdpose", raw, DEMO_SYNTH, overwrite=True)
    console.print(f"raw files: {raw}")
    console.rule("[bold]2/3 convert to the unified format")
    dataset = convert_crowdpose([raw / "annotations"], converted, image_root=raw / "images", name="synth-crowdpose",
                                overwrite=True)  # fmt: skip
    problems = validate_dataset(converted)
    if problems:
        raise OccbenchError(f"the converted demo dataset is invalid: {problems[0]}", file=converted)
    console.print(f"unified dataset: {converted} (valid)")
    console.rule("[bold]3/3 summary")
    print_summary(summarize(dataset), Console())
    return DemoResult(raw, dataset)
