"""Loading official checkpoints strictly, safely; saving occbench's own as safetensors.

``load_checkpoint`` reads ``.pth`` / ``.pth.tar`` with ``torch.load(weights_only=True)`` (never
unpickling arbitrary objects) or ``.safetensors``; unwraps the containers the official
repositories use (``state_dict`` — HRNet/SimpleBaseline ``checkpoint.pth``, princeton-vl,
pytorch-cpn — and ``best_state_dict``, ``model``); strips ``model.module.`` / ``module.``
prefixes; and loads strictly. Missing keys, unexpected keys and shape mismatches are
reported by name in one OccbenchError naming the file.

A checkpoint may carry its input normalisation: safetensors metadata ``occbench`` (JSON with a
``norm`` entry, written by ``save_checkpoint``) or a sidecar ``<checkpoint>.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from occbench.errors import OccbenchError
from occbench.fileio import atomic_path

PREFIXES = ("model.module.", "module.", "model.")
CONTAINER_KEYS = ("state_dict", "best_state_dict", "model", "model_state_dict")
METADATA_KEY = "occbench"


@dataclass
class LoadReport:
    path: Path
    container: str | None  # the container key the weights came from
    prefix: str  # the prefix stripped ("" if none)
    tensors: int
    norm: dict[str, Any] | None = None  # input normalisation carried by the checkpoint
    metadata: dict[str, Any] = field(default_factory=dict)


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], str | None]:
    if not path.is_file():
        raise OccbenchError("checkpoint not found", file=path)
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as fh:
                metadata = json.loads((fh.metadata() or {}).get(METADATA_KEY, "{}"))
                tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open is not a dict)
                return tensors, metadata, None
        except (OSError, ValueError, json.JSONDecodeError) as exc:
            raise OccbenchError(f"cannot read safetensors: {exc}", file=path) from None
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, or pickled objects that weights_only refuses
        raise OccbenchError(f"cannot load with weights_only=True ({type(exc).__name__}: {exc})", file=path) from None
    if not isinstance(raw, dict):
        raise OccbenchError(f"expected a state_dict or a dict holding one, got {type(raw).__name__}", file=path)
    for key in CONTAINER_KEYS:
        if isinstance(raw.get(key), dict):
            return raw[key], {}, key
    return raw, {}, None


def _strip_prefix(state: dict[str, torch.Tensor], expected: set[str]) -> tuple[dict[str, torch.Tensor], str]:
    for prefix in PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            stripped = {k[len(prefix) :]: v for k, v in state.items()}
            # "model." is only a wrapper prefix if stripping it makes the keys fit.
            if prefix != "model." or set(stripped) & expected:
                return stripped, prefix
    return state, ""


def load_checkpoint(model: nn.Module, path: str | Path, *, strict: bool = True) -> LoadReport:
    """Load weights into ``model``; see the module docstring."""
    path = Path(path)
    state, metadata, container = _read(path)
    own = model.state_dict()
    state, prefix = _strip_prefix(state, set(own))
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    problems = []
    if strict and missing:
        problems.append(f"{len(missing)} missing keys: {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}")
    if strict and unexpected:
        problems.append(
            f"{len(unexpected)} unexpected keys: {', '.join(unexpected[:8])}{' ...' if len(unexpected) > 8 else ''}"
        )
    if mismatched:
        details = ", ".join(f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in mismatched[:6])
        problems.append(f"{len(mismatched)} shape mismatches (checkpoint vs model): {details}")
    if problems:
        raise OccbenchError("does not fit the model: " + "; ".join(problems), file=path, field="state_dict")
    model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=strict)
    sidecar = Path(str(path) + ".json")
    if sidecar.exists():
        try:
            metadata = {**metadata, **json.loads(sidecar.read_text())}
        except json.JSONDecodeError as exc:
            raise OccbenchError(f"malformed JSON: {exc}", file=sidecar) from None
    return LoadReport(path, container, prefix, len(state), metadata.get("norm"), metadata)


def save_checkpoint(
    model: nn.Module, path: str | Path, *, norm: Any = None, metadata: dict[str, Any] | None = None
) -> Path:
    """Write the model's weights as safetensors (atomically), with the input norm in metadata."""
    from safetensors.torch import save_file

    path = Path(path)
    info = dict(metadata or {})
    if norm is not None:
        info["norm"] = norm.to_dict() if hasattr(norm, "to_dict") else norm
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={METADATA_KEY: json.dumps(info, sort_keys=True)})
    return path
