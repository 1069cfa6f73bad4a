"""Speed and memory measurements against reference tools (``occbench perf NAME``).

Each module here is a script with a docstring and ``main(argv: list[str] | None) -> None``.
It measures occbench and the reference in the same run and prints ratios; targets live in
the scripts and the docs, never in timed test assertions.
"""

from __future__ import annotations

import importlib
import pkgutil


def available() -> dict[str, str]:
    """Script name -> first line of its docstring."""
    out = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        out[info.name] = (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else ""
    return out


def run(name: str, argv: list[str]) -> None:
    if name not in available():
        raise KeyError(name)
    importlib.import_module(f"{__name__}.{name}").main(argv)
