"""Training recipes: small TOML files (``benchmark/recipes/*.toml``) holding TrainConfig fields.

A recipe may hold any ``TrainConfig`` field plus ``description``; nested tables ``[augment]``
and ``[occnet]`` map onto ``AugmentConfig`` and ``OccNetLossConfig``. Command-line options
override the recipe; ``model``, ``dataset`` and the splits usually come from the command line.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from occbench.errors import OccbenchError
from occbench.training.trainer import TrainConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def load_recipe(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OccbenchError("recipe not found", file=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise OccbenchError(f"invalid TOML: {exc}", file=path) from None
    data.pop("description", None)
    return data


def make_config(recipe: str | Path | None, overrides: dict[str, Any]) -> TrainConfig:
    """TrainConfig from a recipe (optional) with non-None ``overrides`` on top."""
    data = load_recipe(recipe) if recipe else {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    for required in ("model", "dataset"):
        if required not in data:
            raise OccbenchError(f"give --{required} (or set it in the recipe)", field=f"--{required}")
    try:
        return TrainConfig.from_dict(data)
    except TypeError as exc:
        raise OccbenchError(f"bad training settings: {exc}", file=recipe) from None
