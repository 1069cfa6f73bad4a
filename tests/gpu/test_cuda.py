"""The CUDA paths of inference and training, checked against the CPU (skipped without a GPU).

CI has no GPU, so CI skips these. On a machine with one: ``python -m pytest -q -m gpu tests/gpu``,
or ``.ci/gpu`` on the project's lent GPU machine (docs/inference.md, "On a GPU"). They use the
trained checkpoints shipped in ``occbench/checkpoints`` on the generated check split, so the
heatmaps have clear peaks and CPU and GPU must agree on them:

- fp32 on the GPU (cuDNN may use TF32 for convolutions) decodes almost every joint to the same
  heatmap cell and quarter offset as the CPU, so coordinates are mostly bit-equal, scores agree to
  ~1e-3, and AP to 0.005;
- bf16 autocast with channels_last (the benchmark setting) scores the same AP within 0.02;
- the decode workers hand pinned frames to asynchronous copies (``workers=2``), and DARK and
  pose NMS run on the device's outputs;
- a short training run with AMP on the GPU lowers its loss and writes a checkpoint that loads.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from occbench.evaluation.api import evaluate, standard_row
from occbench.inference.pipeline import PredictOptions, predict
from occbench.predictions import Predictions
from occbench.training.shipped import CHECK_DATA, build_dataset, shipped_checkpoint

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

BASE = PredictOptions(boxes="gt", flip=True, decoder="argmax", nms="none", coco_json=False, batch_size=64)


@pytest.fixture(scope="module")
def check_split(tmp_path_factory):
    return build_dataset(CHECK_DATA, tmp_path_factory.mktemp("gpu-check"), name="synth-check")


def _predict(name: str, dataset, work: Path, options: PredictOptions) -> Predictions:
    weights = shipped_checkpoint(name)
    result = predict(name, dataset, "test", work, checkpoint=weights, options=options, overwrite=True, progress=False)
    assert result.metadata["device"].startswith(options.device)
    return result.predictions


def _ap(dataset, predictions: Predictions) -> float:
    return standard_row(evaluate(dataset, predictions, split="test", breakdowns="none"), "AP")


def _same_people(a: Predictions, b: Predictions) -> None:
    assert np.array_equal(a.image_id, b.image_id)
    np.testing.assert_array_equal(a.box, b.box)


@pytest.mark.parametrize("name", ["simplebaseline_tiny", "occnet_tiny"])
def test_fp32_on_the_gpu_matches_the_cpu(name, check_split, tmp_path) -> None:
    cpu = _predict(name, check_split, tmp_path / "cpu", replace(BASE, device="cpu", workers=0))
    gpu = _predict(name, check_split, tmp_path / "gpu", replace(BASE, device="cuda", workers=2))
    _same_people(cpu, gpu)
    shift = np.linalg.norm(cpu.keypoints[..., :2] - gpu.keypoints[..., :2], axis=-1)
    assert np.mean(shift == 0) >= 0.95, np.quantile(shift, [0.5, 0.95, 0.99])
    np.testing.assert_allclose(gpu.keypoints[..., 2], cpu.keypoints[..., 2], rtol=1e-2, atol=1e-3)
    if name.startswith("occnet"):
        assert np.mean(cpu.occluded == gpu.occluded) >= 0.99
    assert abs(_ap(check_split, gpu) - _ap(check_split, cpu)) <= 0.005


def test_bf16_channels_last_scores_like_fp32(check_split, tmp_path) -> None:
    name = "hrnet_tiny"
    cpu = _predict(name, check_split, tmp_path / "cpu", replace(BASE, device="cpu", workers=0))
    fast = replace(BASE, device="cuda", workers=2, amp="bf16", channels_last=True)
    gpu = _predict(name, check_split, tmp_path / "gpu", fast)
    _same_people(cpu, gpu)
    ap_cpu, ap_gpu = _ap(check_split, cpu), _ap(check_split, gpu)
    assert ap_cpu > 0.3 and abs(ap_gpu - ap_cpu) <= 0.02, (ap_cpu, ap_gpu)


def test_dark_and_pose_nms_on_the_gpu_match_the_cpu(check_split, tmp_path) -> None:
    name = "simplebaseline_tiny"
    options = replace(BASE, decoder="dark", nms="pose")
    cpu = _predict(name, check_split, tmp_path / "cpu", replace(options, device="cpu", workers=0))
    gpu = _predict(name, check_split, tmp_path / "gpu", replace(options, device="cuda", workers=2))
    assert len(gpu.image_id) == len(cpu.image_id)
    _same_people(cpu, gpu)
    shift = np.linalg.norm(cpu.keypoints[..., :2] - gpu.keypoints[..., :2], axis=-1)
    assert np.quantile(shift, 0.95) < 0.1, np.quantile(shift, [0.5, 0.95, 0.99])
    assert abs(_ap(check_split, gpu) - _ap(check_split, cpu)) <= 0.005


def test_training_with_amp_on_the_gpu_learns(tmp_path) -> None:
    import csv

    from occbench.datasets.crowdpose import convert_crowdpose
    from occbench.datasets.synth.generate import SynthConfig
    from occbench.datasets.synth.writers import write_layout
    from occbench.inference.model import resolve_model
    from occbench.training.trainer import TrainConfig, train

    config = SynthConfig(splits={"train": 2}, frames=8, persons=8, occluders=1, size=(320, 180), seed=3)
    raw = write_layout("crowdpose", tmp_path / "raw", config)
    dataset = convert_crowdpose([raw / "annotations"], tmp_path / "ds", image_root=raw / "images").root
    settings = TrainConfig(
        model="simplebaseline_tiny",
        dataset=str(dataset),
        epochs=30,
        batch_size=16,
        lr=2e-3,
        lr_steps=(),
        log_every=1,
        workers=2,
        device="cuda",
        amp=True,
        seed=0,
    )
    train(settings, tmp_path / "run")
    with open(tmp_path / "run" / "metrics.csv") as fh:
        losses = [float(r["loss"]) for r in csv.DictReader(fh) if r["loss"]]
    assert all(np.isfinite(losses)) and len(losses) >= 20
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    assert last < 0.8 * first, (first, last)
    weights = tmp_path / "run" / "weights.safetensors"
    assert resolve_model("simplebaseline_tiny", 14, checkpoint=weights).name == "simplebaseline_tiny"
