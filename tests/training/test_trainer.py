"""The trainer: every family learns a fixed batch, resume is bit-identical, recipes and CLI."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from occbench.cli import app
from occbench.datasets.crowdpose import convert_crowdpose
from occbench.datasets.synth.generate import SynthConfig
from occbench.datasets.synth.writers import write_layout
from occbench.models.registry import MODELS, build_model, get_spec
from occbench.training.data import AugmentConfig, PrecropDataset, augment_batch, build_index, precrop_box
from occbench.training.trainer import TrainConfig, family_loss, train


@pytest.fixture(scope="module")
def synth_dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("train")
    config = SynthConfig(splits={"train": 1, "val": 1}, frames=4, persons=8, occluders=1, size=(320, 180), seed=3)
    raw = write_layout("crowdpose", root / "raw", config)
    return convert_crowdpose([raw / "annotations"], root / "ds", image_root=raw / "images").root


def _batch(dataset: Path, name: str, n: int = 8):
    from occbench.datasets.store import open_dataset

    ds = open_dataset(dataset)
    data = ds.read_split("train")
    spec = get_spec(name)
    h, w = spec.input_size
    index = build_index(data, w / h)
    aug = AugmentConfig()
    precrops = PrecropDataset(ds, data, index, aug.max_scale, side=192)
    ids = np.arange(min(n, len(precrops)))
    pixels = torch.stack([precrops[int(i)][0] for i in ids])
    mean = torch.tensor(spec.norm.mean) / (spec.norm.scale * 255)
    std = torch.tensor(spec.norm.std) / (spec.norm.scale * 255)
    regions = precrop_box(index.center, index.scale, aug.max_scale)
    batch = augment_batch(
        pixels,
        ids,
        data,
        index,
        regions,
        ds.schema,
        spec.input_size,
        spec.heatmap_size,
        mean,
        std,
        spec.norm.channel_order == "BGR",
        aug,
        torch.Generator().manual_seed(0),
        augment=False,
    )
    return batch, ds.schema.num_joints


@pytest.mark.parametrize("name", [n for n in MODELS if n.endswith("_tiny")])
def test_a_few_steps_reduce_the_loss_on_a_fixed_batch(synth_dataset, name) -> None:
    torch.manual_seed(0)
    batch, joints = _batch(synth_dataset, name)
    spec = get_spec(name)
    model = build_model(name, joints)
    config = TrainConfig(model=name, dataset=str(synth_dataset))
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(15):
        loss, _ = family_loss(spec.family, model(batch.images), batch, config, spec.heatmap_size)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert batch.weights.sum() > 0 and batch.targets.max() == 1.0
    assert losses[-1] < 0.85 * losses[0], losses


def _losses(run: Path) -> list[tuple[int, str]]:
    with open(run / "metrics.csv") as fh:
        return [(int(r["step"]), r["loss"]) for r in csv.DictReader(fh) if r["loss"]]


def test_resume_continues_bit_identically(synth_dataset, tmp_path) -> None:
    common = {
        "model": "simplebaseline_tiny",
        "dataset": str(synth_dataset),
        "epochs": 3,
        "batch_size": 8,
        "checkpoint_every": 3,
        "log_every": 1,
        "workers": 0,
        "device": "cpu",
        "seed": 5,
    }
    straight = train(TrainConfig(**common), tmp_path / "straight")
    # A run stopped after 4 steps (its last checkpoint holds step 4), then resumed.
    train(TrainConfig(**common, max_steps=4), tmp_path / "resumed")
    (tmp_path / "resumed" / "metrics.csv").unlink()
    resumed = train(TrainConfig(**common), tmp_path / "resumed", resume=True)
    assert resumed.steps == straight.steps
    tail = dict(_losses(tmp_path / "resumed"))
    full = dict(_losses(tmp_path / "straight"))
    assert min(tail) == 5 and max(tail) == max(full)
    assert all(tail[s] == full[s] for s in tail), (tail, full)
    weights_a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)["model"]
    weights_b = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)


def test_existing_run_needs_resume(synth_dataset, tmp_path) -> None:
    from occbench.errors import OccbenchError

    config = TrainConfig(model="hrnet_tiny", dataset=str(synth_dataset), max_steps=1, batch_size=4, workers=0)
    train(config, tmp_path / "run")
    with pytest.raises(OccbenchError, match="--resume"):
        train(config, tmp_path / "run")


def test_cli_with_recipe_and_validation(synth_dataset, tmp_path) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        'model = "occnet_tiny"\nbatch_size = 8\nepochs = 1\nworkers = 0\nval_every = 1\n'
        '[occnet]\nvariant = "hard"\noccluded_weight = 1.0\n[augment]\nrotation_prob = 0.0\n'
    )
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--recipe",
            str(recipe),
            "--dataset",
            str(synth_dataset),
            "--val-split",
            "val",
            "--out",
            str(tmp_path / "run"),
        ],
    )
    assert result.exit_code == 0, result.output
    with open(tmp_path / "run" / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert any(r["val_AP"] for r in rows) and any(r["loss_occ"] for r in rows)
    assert (tmp_path / "run" / "weights.safetensors").exists()
    from occbench.models.checkpoints import load_checkpoint

    report = load_checkpoint(build_model("occnet_tiny", 14), tmp_path / "run" / "weights.safetensors")
    assert report.norm["channel_order"] == "RGB" and report.metadata["model"] == "occnet_tiny"
    bad = CliRunner().invoke(app, ["train", "--recipe", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "x")])
    assert bad.exit_code == 1 and "recipe not found" in bad.output
