"""The trainer: OccNet's recipe (MODELS.md) for any zoo model, resumable bit-for-bit.

``train(config, out_dir)``:

- Adam, learning rate stepped down by ``lr_factor`` at ``lr_steps`` epochs; optional AMP and
  gradient clipping;
- the loss of the model's family: heatmap MSE with target weights; OccNet's visible/occluded
  branch masks; intermediate supervision for Hourglass/CPM; CPN's multi-width GlobalNet
  targets plus RefineNet OHKM;
- a checkpoint every ``checkpoint_every`` steps and at every epoch end, written atomically,
  with the model, optimizer, scheduler, AMP scaler, step and every RNG state; ``resume=True``
  continues exactly where the last checkpoint stopped (on CPU the loss sequence is identical);
- periodic validation AP through the evaluation engine; a progress bar with loss and
  throughput; ``metrics.csv`` with one row per logged step and per validation;
- multi-GPU with ``torchrun`` (DistributedDataParallel; rank 0 writes), and seeds everywhere.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from occbench.datasets.store import open_dataset
from occbench.errors import OccbenchError
from occbench.fileio import atomic_path, write_json_atomic
from occbench.progress import make_progress
from occbench.training.data import (
    AugmentConfig,
    PrecropDataset,
    augment_batch,
    build_index,
    epoch_order,
    precrop_box,
)
from occbench.training.losses import OccNetLossConfig, cpn_loss, multi_stage_mse, occnet_loss, weighted_mse
from occbench.training.targets import DEFAULT_TRAINED_CLASSES, cpn_sigmas, gaussian_heatmaps, visibility_split

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.csv"


@dataclass
class TrainConfig:
    """Everything a training run depends on; a recipe TOML maps onto these fields."""

    model: str
    dataset: str
    split: str = "train"
    val_split: str | None = None
    epochs: int = 140
    batch_size: int = 64
    lr: float = 1e-3
    lr_steps: tuple[int, ...] = (90, 120)
    lr_factor: float = 0.1
    weight_decay: float = 0.0
    input_size: tuple[int, int] | None = None  # (H, W); the zoo spec's standard input by default
    sigma: float = 2.0
    target_encoding: str = "official"
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    occnet: OccNetLossConfig = field(default_factory=OccNetLossConfig)
    ohkm_top_k: int = 8
    amp: bool = False
    grad_clip: float | None = None
    checkpoint_every: int = 500
    log_every: int = 20
    val_every: int = 10  # epochs
    workers: int = 2
    seed: int = 0
    device: str = "auto"
    threads: int | None = None  # torch CPU threads; 1 avoids OpenMP spinning on a busy machine
    max_steps: int | None = None  # stop early (tests, smoke runs)
    image_root: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        data = dict(data)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise OccbenchError(f"unknown training settings {sorted(unknown)}", field=", ".join(sorted(unknown)))
        if isinstance(data.get("augment"), dict):
            data["augment"] = AugmentConfig(**data["augment"])
        if isinstance(data.get("occnet"), dict):
            occnet = dict(data["occnet"])
            if isinstance(occnet.get("visible_classes"), list):
                occnet["visible_classes"] = tuple(occnet["visible_classes"])
            data["occnet"] = OccNetLossConfig(**occnet)
        for key in ("lr_steps", "input_size"):
            if isinstance(data.get(key), list):
                data[key] = tuple(data[key])
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TrainResult:
    out_dir: Path
    steps: int
    epochs_done: int
    last_loss: float
    val_ap: float | None
    weights: Path


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state()[1].tolist(),
        "numpy_pos": int(np.random.get_state()[2]),
        "python": list(random.getstate()[1]),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(("MT19937", np.asarray(state["numpy"], dtype=np.uint32), state["numpy_pos"], 0, 0.0))
    random.setstate((3, tuple(state["python"]), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def family_loss(
    family: str, output: dict[str, Any], batch: Any, config: TrainConfig, heatmap_size: tuple[int, int]
) -> tuple[torch.Tensor, dict[str, float]]:
    """The training loss of a model family on one augmented batch."""
    target, weight = batch.targets, batch.weights
    if family in ("occnet", "occnetcb"):
        visible, occluded = visibility_split(batch.visibility, *config.occnet.split_classes())
        total, parts = occnet_loss(
            output["heatmaps_vis"], output["heatmaps_occ"], target, weight, visible, occluded, config.occnet
        )
        return total, {k: float(v) for k, v in parts.items()}
    if family in ("hourglass", "cpm"):
        return multi_stage_mse(output["stages"], target, weight), {}
    if family == "cpn":
        global_targets = [
            gaussian_heatmaps(batch.joints, weight, heatmap_size, sigma=s, encoding=config.target_encoding)[0]
            for s in cpn_sigmas()
        ]
        stages = output["stages"]
        total, parts = cpn_loss(stages[:-1], stages[-1], global_targets, target, weight, config.ohkm_top_k)
        return total, {k: float(v) for k, v in parts.items()}
    return weighted_mse(output["heatmaps"], target, weight), {}


class _Distributed:
    """torchrun's environment, or a single process."""

    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.enabled = self.world > 1

    def setup(self, device: torch.device) -> None:
        if self.enabled and not torch.distributed.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            torch.distributed.init_process_group(backend)
            if device.type == "cuda":
                torch.cuda.set_device(device)

    @property
    def main(self) -> bool:
        return self.rank == 0


def train(config: TrainConfig, out_dir: str | Path, *, resume: bool = False) -> TrainResult:
    """Train ``config.model`` on ``config.dataset``; see the module docstring."""
    from occbench.models.registry import build_model, get_spec, save_checkpoint

    out = Path(out_dir)
    if config.threads:
        torch.set_num_threads(config.threads)
    dist = _Distributed()
    device = resolve_device(config.device)
    dist.setup(device)
    ckpt_path = out / CHECKPOINT
    if ckpt_path.exists() and not resume and dist.main:
        raise OccbenchError(
            "run folder holds a checkpoint; pass --resume to continue it or choose a new --out", file=out
        )
    out.mkdir(parents=True, exist_ok=True)
    _seed_everything(config.seed)

    spec = get_spec(config.model)
    ds = open_dataset(config.dataset)
    data = ds.read_split(config.split)
    schema = ds.schema
    input_size = tuple(config.input_size or spec.input_size)
    stride_h, stride_w = spec.input_size[0] / spec.heatmap_size[0], spec.input_size[1] / spec.heatmap_size[1]
    heatmap_size = (round(input_size[0] / stride_h), round(input_size[1] / stride_w))
    index = build_index(data, input_size[1] / input_size[0], DEFAULT_TRAINED_CLASSES)
    if len(index.image_index) == 0:
        raise OccbenchError("no trainable person (non-crowd with a labelled joint)", file=ds.root, field=config.split)
    regions = precrop_box(index.center, index.scale, config.augment.max_scale)
    precrops = PrecropDataset(ds, data, index, config.augment.max_scale, image_root=config.image_root)

    model = build_model(config.model, schema.num_joints).to(device)
    if dist.enabled:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = max(
        1, len(epoch_order(len(precrops), config.seed, 0, dist.rank, dist.world)) // config.batch_size
    )
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=[e * steps_per_epoch for e in config.lr_steps], gamma=config.lr_factor
    )
    use_amp = config.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    norm = spec.norm
    mean = torch.tensor(norm.mean, dtype=torch.float32, device=device)
    std = torch.tensor(norm.std, dtype=torch.float32, device=device)
    # InputNorm: pixels * scale, then (x - mean) / std; augment_batch divides by 255 first.
    mean, std = mean / (norm.scale * 255.0), std / (norm.scale * 255.0)

    step, epoch = 0, 0
    if resume and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=device, weights_only=True)
        (model.module if dist.enabled else model).load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        step, epoch = int(state["step"]), int(state["epoch"])
        _set_rng_state(state["rng"])
    elif dist.main:
        write_json_atomic(out / "config.json", config.to_dict())

    total_steps = config.epochs * steps_per_epoch
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    last_loss = float("nan")
    log_rows: list[dict[str, Any]] = []
    val_ap: float | None = None

    def save() -> None:
        if not dist.main:
            return
        state = {
            "model": (model.module if dist.enabled else model).state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "step": step,
            "epoch": epoch,
            "rng": _rng_state(),
        }
        with atomic_path(ckpt_path) as tmp:
            torch.save(state, tmp)
        _append_metrics(out / METRICS, log_rows)
        log_rows.clear()

    model.train()
    with make_progress() as progress:
        task = progress.add_task(f"train {config.model}", total=total_steps, completed=step)
        started = time.perf_counter()
        seen = 0
        while step < total_steps:
            order = epoch_order(len(precrops), config.seed, epoch, dist.rank, dist.world)
            first = (step - epoch * steps_per_epoch) * config.batch_size
            batches = [
                order[i : i + config.batch_size]
                for i in range(first, steps_per_epoch * config.batch_size, config.batch_size)
            ]
            loader = DataLoader(
                _Subset(precrops, np.concatenate(batches) if batches else np.zeros(0, np.int64)),
                batch_size=config.batch_size,
                num_workers=config.workers,
                pin_memory=device.type == "cuda",
                persistent_workers=False,
            )
            for pixels, ids in loader:
                if step >= total_steps:
                    break
                generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
                batch = augment_batch(
                    pixels.to(device, non_blocking=True),
                    ids.numpy(),
                    data,
                    index,
                    regions,
                    schema,
                    input_size,
                    heatmap_size,
                    mean,
                    std,
                    norm.channel_order == "BGR",
                    config.augment,
                    generator,
                    sigma=config.sigma,
                    encoding=config.target_encoding,
                )
                with torch.autocast(device.type, enabled=use_amp):
                    output = model(batch.images)
                    loss, parts = family_loss(spec.family, output, batch, config, heatmap_size)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if config.grad_clip:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                step += 1
                seen += len(ids)
                last_loss = float(loss.detach())
                rate = seen / max(time.perf_counter() - started, 1e-9)
                progress.update(
                    task, advance=1, description=f"train {config.model} loss {last_loss:.3e} {rate:.0f} samples/s"
                )
                if step % config.log_every == 0 or step == total_steps:
                    log_rows.append(
                        {
                            "step": step,
                            "epoch": epoch,
                            "loss": last_loss,
                            "lr": scheduler.get_last_lr()[0],
                            "samples_per_s": rate,
                            **parts,
                        }
                    )
                if step % config.checkpoint_every == 0:
                    save()
            if step >= (epoch + 1) * steps_per_epoch:
                epoch += 1
                if config.val_split and config.val_every and epoch % config.val_every == 0 and dist.main:
                    val_ap = validate(model.module if dist.enabled else model, config, out)
                    log_rows.append({"step": step, "epoch": epoch, "val_AP": val_ap})
                save()
    save()
    weights = out / "weights.safetensors"
    if dist.main:
        final_model = model.module if dist.enabled else model
        if config.val_split and val_ap is None:
            val_ap = validate(final_model, config, out)
            _append_metrics(out / METRICS, [{"step": step, "epoch": epoch, "val_AP": val_ap}])
        metadata = {"model": config.model, "steps": str(step), "config": json.dumps(config.to_dict())}
        save_checkpoint(final_model, weights, norm=norm, metadata=metadata)
    return TrainResult(out, step, epoch, last_loss, val_ap, weights)


class _Subset(torch.utils.data.Dataset):
    def __init__(self, base: PrecropDataset, ids: np.ndarray) -> None:
        self.base, self.ids = base, ids

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.base[int(self.ids[i])]


def _append_metrics(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    fields = [
        "step",
        "epoch",
        "loss",
        "lr",
        "samples_per_s",
        "loss_vis",
        "loss_occ",
        "loss_global",
        "loss_refine",
        "val_AP",
    ]
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerows(rows)


def validate(model: torch.nn.Module, config: TrainConfig, out: Path) -> float:
    """AP of the current weights on the validation split: ground-truth boxes, no flip, through
    the same pipeline and evaluator as ``occbench predict`` / ``evaluate``."""
    from occbench.evaluation import evaluate
    from occbench.inference.model import TopDownModel
    from occbench.inference.pipeline import PredictOptions, predict
    from occbench.models.registry import get_spec

    spec = get_spec(config.model)
    norm = spec.norm
    wrapped = TopDownModel(
        module=model,
        name=config.model,
        input_size=tuple(config.input_size or spec.input_size),
        channel_order=norm.channel_order,
        scale=norm.scale,
        mean=norm.mean,
        std=norm.std,
        family=spec.family,
    )
    ds = open_dataset(config.dataset)
    options = PredictOptions(
        boxes="gt", flip=False, batch_size=config.batch_size, device=config.device, workers=0, coco_json=False
    )
    result = predict(
        wrapped, ds, config.val_split or "val", out / "val_predictions", options=options, overwrite=True, progress=False
    )
    model.train()
    table = evaluate(ds, result.predictions, split=config.val_split, breakdowns="none")
    ap = table[(table["breakdown"] == "standard") & (table["metric"] == "AP")]["value"]
    return float(ap.iloc[0]) if len(ap) else float("nan")
