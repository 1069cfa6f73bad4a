"""The checkpoints shipped inside occbench: present, intact, loadable, and as good as recorded."""

from __future__ import annotations

import dataclasses
import json

import pytest

from occbench.inference.model import resolve_model
from occbench.training.shipped import (
    CHECK_DATA,
    MAX_BYTES,
    SHIPPED_MODELS,
    TRAINING_DATA,
    build_dataset,
    score,
    sha256_of,
    shipped_checkpoint,
    shipped_record,
)


@pytest.mark.parametrize("name", SHIPPED_MODELS)
def test_shipped_checkpoint_is_intact_and_loads_strictly(name) -> None:
    path = shipped_checkpoint(name)
    record = shipped_record(name)
    assert record["model"] == name and record["file"] == path.name
    assert sha256_of(path) == record["sha256"]
    assert path.stat().st_size == record["bytes"] <= MAX_BYTES
    # What a user needs to reproduce it is recorded beside it.
    assert "epochs" in record["recipe"]["text"] and record["training"]["config"]["model"] == name
    # The generator spec that rebuilds the training data exactly (same seed, same bytes).
    assert record["training"]["data"]["synth"] == json.loads(json.dumps(dataclasses.asdict(TRAINING_DATA)))
    model = resolve_model(name, 14, checkpoint=path)  # strict: every key, every shape
    assert model.name == name and model.input_size == (128, 96)


@pytest.fixture(scope="module")
def check_split(tmp_path_factory):
    return build_dataset(CHECK_DATA, tmp_path_factory.mktemp("check"), name="synth-check")


@pytest.mark.parametrize("name", SHIPPED_MODELS)
def test_shipped_checkpoint_reproduces_its_recorded_ap(name, check_split, tmp_path) -> None:
    record = shipped_record(name)
    assert record["check_data"]["synth"] == json.loads(json.dumps(dataclasses.asdict(CHECK_DATA)))
    stats = score(name, shipped_checkpoint(name), check_split, "test", tmp_path / "pred")
    recorded = record["metrics"]["check_split"]
    for metric in ("AP", "AP50", "AP75", "AR", "AP_visible", "AP_occluded"):
        assert stats[metric] == pytest.approx(recorded[metric], abs=0.01), metric


def test_best_shipped_model_is_clearly_non_trivial() -> None:
    best = max(shipped_record(n)["metrics"]["training_test_split"]["AP"] for n in SHIPPED_MODELS)
    assert best >= 0.5
    # OccNet's occluded-joint AP is recorded next to SimpleBaseline's (the comparison the docs report).
    for name in ("occnet_tiny", "simplebaseline_tiny"):
        assert 0.0 < shipped_record(name)["metrics"]["training_test_split"]["AP_occluded"] <= 1.0


def test_occnet_visible_classes_option_routes_self_occluded_joints() -> None:
    import torch

    from occbench.skeletons import Visibility as V
    from occbench.training.losses import OccNetLossConfig
    from occbench.training.targets import visibility_split

    vis = torch.tensor([[V.VISIBLE, V.SELF_OCCLUDED, V.OCCLUDED, V.LABELED_UNKNOWN, V.TRUNCATED, V.UNLABELED]])
    authors = visibility_split(vis, *OccNetLossConfig().split_classes())
    assert authors[0].tolist() == [[1, 1, 0, 0, 0, 0]] and authors[1].tolist() == [[0, 0, 1, 1, 0, 0]]
    strict = visibility_split(vis, *OccNetLossConfig(visible_classes=("visible",)).split_classes())
    assert strict[0].tolist() == [[1, 0, 0, 0, 0, 0]] and strict[1].tolist() == [[0, 1, 1, 1, 0, 0]]
    with pytest.raises(ValueError, match="unknown visibility classes"):
        OccNetLossConfig(visible_classes=("truncated",)).split_classes()
