"""Timing and peak-memory helpers shared by the perf scripts."""

from __future__ import annotations

import multiprocessing as mp
import resource
import time
from collections.abc import Callable
from typing import Any


def best_time(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Best wall time of ``repeat`` runs (seconds): the least noisy estimate on a shared machine."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _child(fn: Callable[..., Any], args: tuple[Any, ...], queue: mp.Queue) -> None:
    start = time.perf_counter()
    fn(*args)
    elapsed = time.perf_counter() - start
    queue.put((elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))


def peak_rss_in_child(fn: Callable[..., Any], *args: Any) -> tuple[float, int]:
    """Run ``fn(*args)`` in a fresh process; return (seconds, peak RSS bytes of that process)."""
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:,.0f} MiB"
