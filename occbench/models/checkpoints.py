"""Loading official checkpoints strictly and safely; saving occbench's own as safetensors.

``load_checkpoint`` reads ``.pth`` / ``.pth.tar`` with ``torch.load(weights_only=True)`` (never
unpickling arbitrary objects) or ``.safetensors``, then:

1. Unwraps the containers the official repositories use: ``state_dict`` (HRNet/SimpleBaseline
   ``checkpoint.pth``, princeton-vl, pytorch-cpn, mmpose), ``best_state_dict``, ``model``,
   ``model_state_dict``. A file with no tensors anywhere is an error listing its top-level keys.
   numpy scalars, arrays and dtypes are allowed in the pickle (numpy 1 and numpy 2 names):
   HRNet/SimpleBaseline ``checkpoint.pth`` stores ``perf`` as a numpy float.
2. Strips a ``model.module.`` / ``module.`` / ``model.`` wrapper prefix (DataParallel, princeton-vl).
3. Maps mmpose's layout (``backbone.*`` + ``keypoint_head.*`` in 0.x or ``head.*`` in 1.x) onto
   ours: the head prefixes are dropped, and ``backbone.`` becomes whichever of "" or one of
   the model's top-level module names makes the most keys fit by name and shape (mmpose's
   ResNet/HRNet/CPM backbones use the official names at top level).
4. Loads. ``strict=True`` (the default) requires exactly our keys with our shapes and raises
   one OccbenchError naming the file and the missing, unexpected and mismatched keys.
   ``strict=False`` loads every tensor whose name and shape fit and lists the rest in the
   ``LoadReport`` (fine-tuning a 17-joint COCO checkpoint into a 14-joint model keeps all
   but the last layer).

A checkpoint may carry its input normalisation: safetensors metadata ``occbench`` (JSON with a
``norm`` entry, written by ``save_checkpoint``) or a sidecar ``<checkpoint>.json`` (a JSON
object; its ``norm`` is ``InputNorm.to_dict``'s form and is validated here). The sidecar wins.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
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
MMPOSE_BACKBONE = "backbone."
MMPOSE_HEADS = ("keypoint_head.", "head.")  # mmpose 0.x, 1.x
LIST_LIMIT = 8  # keys named per category in an error message

Shape = tuple[int, ...]


@dataclass
class LoadReport:
    path: Path
    container: str | None  # the container key the weights came from
    prefix: str  # the wrapper prefix stripped ("" if none)
    tensors: int  # tensors in the checkpoint
    norm: dict[str, Any] | None = None  # input normalisation carried by the checkpoint
    metadata: dict[str, Any] = field(default_factory=dict)
    layout: str = "native"  # "native", or "mmpose" (backbone./head. renamed)
    loaded: int = 0  # tensors copied into the model
    missing: list[str] = field(default_factory=list)  # model keys the checkpoint lacks
    unexpected: list[str] = field(default_factory=list)  # checkpoint keys the model lacks
    mismatched: list[tuple[str, Shape, Shape]] = field(default_factory=list)  # (key, checkpoint, model)

    @property
    def complete(self) -> bool:
        """Every model tensor came from the checkpoint and nothing was left over."""
        return not (self.missing or self.unexpected or self.mismatched)


def _numpy_safe_globals() -> list[Any]:
    """numpy objects a weights-only unpickler may rebuild, under numpy 1 and numpy 2 names.

    A numpy-1 pickle names ``numpy.core.multiarray.*``, a numpy-2 pickle ``numpy._core.multiarray.*``;
    both are registered against the installed numpy's objects, so either loads under either.
    """
    import numpy as np

    multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray  # type: ignore[attr-defined]
    allowed: list[Any] = [np.dtype, np.ndarray]
    for name in ("scalar", "_reconstruct"):
        obj = getattr(multiarray, name)
        allowed += [(obj, f"numpy.core.multiarray.{name}"), (obj, f"numpy._core.multiarray.{name}")]
    # numpy >= 1.25 dtype classes (Float64DType, ...), which some pickles name directly.
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        allowed += [(cls, f"numpy.dtypes.{cls.__name__}") for cls in vars(dtypes).values() if isinstance(cls, type)]
    return allowed


@contextlib.contextmanager
def _allow_numpy() -> Iterator[None]:
    # Scoped (not add_safe_globals) so loading a checkpoint leaves torch's global allowlist alone.
    with torch.serialization.safe_globals(_numpy_safe_globals()):
        yield


def _describe_keys(raw: dict[Any, Any]) -> str:
    keys = [str(k) for k in raw]
    return ", ".join(keys[:20]) + (" ..." if len(keys) > 20 else "") if keys else "(none)"


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], str | None]:
    if not path.is_file():
        raise OccbenchError("checkpoint not found", file=path)
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as fh:
                metadata = json.loads((fh.metadata() or {}).get(METADATA_KEY, "{}"))
                tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open is not a dict)
        except Exception as exc:  # safetensors raises its own SafetensorError for a broken header/body
            raise OccbenchError(f"not a readable safetensors file ({type(exc).__name__}: {exc})", file=path) from None
        if not isinstance(metadata, dict):
            raise OccbenchError("safetensors metadata 'occbench' is not a JSON object", file=path, field="metadata")
        return tensors, metadata, None
    try:
        with _allow_numpy():
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, or pickled objects that weights_only refuses
        raise OccbenchError(f"cannot load with weights_only=True ({type(exc).__name__}: {exc})", file=path) from None
    if not isinstance(raw, dict):
        raise OccbenchError(f"expected a state_dict or a dict holding one, got {type(raw).__name__}", file=path)
    container = next((k for k in CONTAINER_KEYS if isinstance(raw.get(k), dict)), None)
    source = raw[container] if container is not None else raw
    state = {k: v for k, v in source.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not state:
        where = f"under '{container}'" if container else "at the top level or under " + "/".join(CONTAINER_KEYS)
        raise OccbenchError(
            f"no state_dict: no tensors {where}; top-level keys: {_describe_keys(raw)}", file=path, field="state_dict"
        )
    return state, {}, container


def _strip_prefix(state: dict[str, torch.Tensor], expected: set[str]) -> tuple[dict[str, torch.Tensor], str]:
    for prefix in PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            stripped = {k[len(prefix) :]: v for k, v in state.items()}
            # "model." is only a wrapper prefix if stripping it makes the keys fit.
            if prefix != "model." or set(stripped) & expected:
                return stripped, prefix
    return state, ""


def _fits(state: dict[str, torch.Tensor], own: dict[str, torch.Tensor]) -> int:
    return sum(1 for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape))


def _rename_mmpose(
    state: dict[str, torch.Tensor], own: dict[str, torch.Tensor], children: list[str]
) -> tuple[dict[str, torch.Tensor], str]:
    """mmpose's ``backbone.*`` / ``keypoint_head.*`` / ``head.*`` onto our names (see the module docstring)."""
    if any(k.startswith(MMPOSE_BACKBONE) for k in own) or not any(k.startswith(MMPOSE_BACKBONE) for k in state):
        return state, "native"

    def rename(key: str, backbone_to: str) -> str:
        if key.startswith(MMPOSE_BACKBONE):
            return backbone_to + key[len(MMPOSE_BACKBONE) :]
        for head in MMPOSE_HEADS:
            if key.startswith(head):
                return key[len(head) :]
        return key

    best, best_score = state, -1
    for target in ["", *(f"{c}." for c in children)]:  # "" first: it wins ties
        candidate = {rename(k, target): v for k, v in state.items()}
        if len(candidate) == len(state) and (score := _fits(candidate, own)) > best_score:
            best, best_score = candidate, score
    return best, "mmpose"


def _short(keys: list[str]) -> str:
    return ", ".join(keys[:LIST_LIMIT]) + (" ..." if len(keys) > LIST_LIMIT else "")


def load_checkpoint(model: nn.Module, path: str | Path, *, strict: bool = True) -> LoadReport:
    """Load weights into ``model``; see the module docstring."""
    path = Path(path)
    state, metadata, container = _read(path)
    tensors = len(state)
    own = model.state_dict()
    state, prefix = _strip_prefix(state, set(own))
    state, layout = _rename_mmpose(state, own, [name for name, _ in model.named_children()])
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = [
        (k, tuple(state[k].shape), tuple(own[k].shape))
        for k in sorted(set(own) & set(state))
        if tuple(own[k].shape) != tuple(state[k].shape)
    ]
    if strict and (missing or unexpected or mismatched):
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing keys: {_short(missing)}")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected keys: {_short(unexpected)}")
        if mismatched:
            details = ", ".join(f"{k} {a} vs {b}" for k, a, b in mismatched[:LIST_LIMIT])
            more = " ..." if len(mismatched) > LIST_LIMIT else ""
            problems.append(f"{len(mismatched)} shape mismatches (checkpoint vs model): {details}{more}")
        hint = " (strict=False loads what fits)"
        raise OccbenchError("does not fit the model: " + "; ".join(problems) + hint, file=path, field="state_dict")
    bad = set(unexpected) | {k for k, _, _ in mismatched}
    fitting = {k: v for k, v in state.items() if k not in bad}
    model.load_state_dict(fitting, strict=strict)
    metadata = {**metadata, **_read_sidecar(path)}
    norm = metadata.get("norm")
    if norm is not None and not isinstance(norm, dict):
        raise OccbenchError("'norm' must be a JSON object", file=path, field="norm")
    return LoadReport(
        path, container, prefix, tensors, norm, metadata, layout, len(fitting), missing, unexpected, mismatched
    )


def _read_sidecar(path: Path) -> dict[str, Any]:
    sidecar = Path(str(path) + ".json")
    if not sidecar.exists():
        return {}
    try:
        data = json.loads(sidecar.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OccbenchError(f"malformed JSON: {exc}", file=sidecar) from None
    if not isinstance(data, dict):
        raise OccbenchError(f"expected a JSON object, got {type(data).__name__}", file=sidecar)
    if "norm" in data:
        from occbench.models.registry import InputNorm  # registry imports this module

        try:
            InputNorm.from_dict(data["norm"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise OccbenchError(f"bad input normalisation: {exc!r}", file=sidecar, field="norm") from None
    return data


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
