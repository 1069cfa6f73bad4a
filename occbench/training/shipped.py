"""The small checkpoints shipped inside occbench (``occbench/checkpoints/``), and how to remake them.

The demo and the end-to-end tests need trained weights: a model with random weights makes every
table meaningless. Each shipped model is a ``*_tiny`` zoo model trained with the committed recipe
``benchmark/recipes/demo_tiny.toml`` on the synthetic crowd dataset ``TRAINING_DATA`` (the
generator's CrowdPose layout, converted by the real CrowdPose converter). Beside each
``NAME.safetensors`` lies ``NAME.json``: its sha256, the recipe, the training data spec, the
training time and the metrics on the training data's test split and on the small ``CHECK_DATA``
split that the tests regenerate to confirm the recorded AP.

Remake them (about 50 minutes of one CPU core per model)::

    python -m occbench.training.shipped data runs/shipped-data
    occbench train --recipe benchmark/recipes/demo_tiny.toml --model occnet_tiny \\
        --dataset runs/shipped-data/synth --split train --val-split val --out runs/occnet_tiny
    python -m occbench.training.shipped package occnet_tiny --run runs/occnet_tiny \\
        --data runs/shipped-data/synth

Weights are stored in float16 (each file well under 5 MB); loading casts them back to float32,
and every recorded metric is measured on the stored float16 weights.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from occbench.datasets.crowdpose import convert_crowdpose
from occbench.datasets.store import Dataset, open_dataset
from occbench.datasets.synth.generate import SynthConfig
from occbench.datasets.synth.writers import write_layout
from occbench.errors import OccbenchError
from occbench.fileio import atomic_path, write_json_atomic

SHIPPED_MODELS = ("simplebaseline_tiny", "occnet_tiny", "occnetcb_tiny", "hrnet_tiny")
RECIPE = Path("benchmark/recipes/demo_tiny.toml")
TRAINING_DATA = SynthConfig(
    splits={"train": 24, "val": 2, "test": 4}, frames=60, persons=10, occluders=2, size=(640, 360), seed=1, stride=3
)
# Small enough for a test to regenerate and score in seconds.
CHECK_DATA = SynthConfig(splits={"test": 1}, frames=16, persons=10, occluders=2, size=(640, 360), seed=7, stride=2)
MAX_BYTES = 5 * 2**20


def checkpoints_dir() -> Path:
    return Path(str(resources.files("occbench") / "checkpoints"))


def shipped_checkpoint(name: str) -> Path:
    path = checkpoints_dir() / f"{name}.safetensors"
    if not path.is_file():
        raise OccbenchError(f"no checkpoint {name!r} ships with occbench", file=path, field="checkpoint")
    return path


def shipped_record(name: str) -> dict[str, Any]:
    return json.loads((checkpoints_dir() / f"{name}.json").read_text(encoding="utf-8"))


def sha256_of(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def build_dataset(config: SynthConfig, root: Path, name: str = "synth-crowd") -> Dataset:
    """Generate ``config`` in the CrowdPose layout under ``root/raw`` and convert it to ``root/synth``."""
    raw = root / "raw"
    if not (raw / "synth_config.json").exists():
        write_layout("crowdpose", raw, config, overwrite=True)
    out = root / "synth"
    if out.exists():
        return open_dataset(out)
    return convert_crowdpose([raw / "annotations"], out, image_root=raw / "images", name=name)


def score(model: str, checkpoint: Path, dataset: Dataset, split: str, work: Path) -> dict[str, float]:
    """AP and friends of a checkpoint with ground-truth boxes and flip test (the demo's ``gt`` cell)."""
    from occbench.evaluation import evaluate
    from occbench.inference.pipeline import PredictOptions, predict

    options = PredictOptions(boxes="gt", flip=True, decoder="argmax", nms="none", workers=0, coco_json=False)
    result = predict(model, dataset, split, work, checkpoint=checkpoint, options=options, overwrite=True,
                     progress=False)  # fmt: skip
    table = evaluate(dataset, result.predictions, split=split, breakdowns=["keypoint_subset"])

    def pick(breakdown: str, subset: str, metric: str) -> float:
        rows = table[(table.breakdown == breakdown) & (table.subset == subset) & (table.metric == metric)]
        return float(rows["value"].iloc[0]) if len(rows) else float("nan")

    stats = {m: pick("standard", "all", m) for m in ("AP", "AP50", "AP75", "AR")}
    for subset in sorted(set(table[table.breakdown == "keypoint_subset"].subset)):
        stats[f"AP_{subset}"] = pick("keypoint_subset", subset, "AP")
    return stats


def store_half(weights: Path, out: Path) -> None:
    """Re-save a safetensors file with floating tensors in float16, keeping its metadata."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(weights), framework="pt") as f:
        metadata = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no iterator
    half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in tensors.items()}
    with atomic_path(out) as tmp:
        save_file(half, str(tmp), metadata={**metadata, "stored_dtype": "float16"})


def package(model: str, run_dir: Path, data_dir: Path, out_dir: Path | None = None) -> dict[str, Any]:
    """Copy a finished run's weights into the package (float16) and record everything beside them."""
    out_dir = out_dir or checkpoints_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = run_dir / "weights.safetensors"
    if not weights.is_file():
        raise OccbenchError("the run has no weights.safetensors (has it finished?)", file=run_dir)
    target = out_dir / f"{model}.safetensors"
    store_half(weights, target)
    size = target.stat().st_size
    if size > MAX_BYTES:
        raise OccbenchError(f"{size / 2**20:.2f} MiB is over the 5 MiB budget", file=target)
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    metrics_csv = (run_dir / "metrics.csv").read_text(encoding="utf-8").splitlines()
    started = (run_dir / "config.json").stat().st_mtime
    with tempfile.TemporaryDirectory(prefix="occbench-package-") as tmp:
        test_stats = score(model, target, open_dataset(data_dir), "test", Path(tmp) / "test")
        check = build_dataset(CHECK_DATA, Path(tmp) / "check", name="synth-check")
        check_stats = score(model, target, check, "test", Path(tmp) / "check-pred")
    record = {
        "model": model,
        "file": target.name,
        "sha256": sha256_of(target),
        "bytes": size,
        "stored_dtype": "float16",
        "recipe": {"path": str(RECIPE), "text": _recipe_text()},
        "training": {
            "config": config,
            "data": {
                "layout": "crowdpose",
                "converter": "occbench convert crowdpose",
                "synth": dataclasses.asdict(TRAINING_DATA),
            },
            "wall_seconds": round(weights.stat().st_mtime - started),
            "note": "trained with one torch thread on a shared 2-core CPU, up to four runs at once",
            "last_log_row": metrics_csv[-1] if metrics_csv else "",
            "torch": torch.__version__,
        },
        "metrics": {
            "protocol": "crowdpose; gt boxes, flip test, argmax decoding, no NMS",
            "training_test_split": test_stats,
            "check_split": check_stats,
        },
        "check_data": {"synth": dataclasses.asdict(CHECK_DATA)},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_json_atomic(out_dir / f"{model}.json", record)
    return record


def _recipe_text() -> str:
    path = Path(__file__).resolve().parents[2] / RECIPE
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m occbench.training.shipped", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    data = sub.add_parser("data", help="generate and convert the training dataset")
    data.add_argument("root", type=Path)
    pack = sub.add_parser("package", help="ship a finished run's weights with their record")
    pack.add_argument("model", choices=SHIPPED_MODELS)
    pack.add_argument("--run", type=Path, required=True)
    pack.add_argument("--data", type=Path, required=True, help="the converted training dataset (ROOT/synth)")
    pack.add_argument("--out", type=Path, default=None, help="default: occbench/checkpoints")
    args = parser.parse_args(argv)
    if args.command == "data":
        ds = build_dataset(TRAINING_DATA, args.root)
        print(f"training dataset: {ds.root}")
    else:
        record = package(args.model, args.run, args.data, args.out)
        print(json.dumps(record["metrics"], indent=2))


if __name__ == "__main__":
    main()
