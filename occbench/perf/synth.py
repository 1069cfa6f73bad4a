"""Synthetic crowd generation speed: frames/s at 960x540 with 20 people, annotations and images included.

Measures, in one run: rendering with occlusion flags only; the CrowdPose layout (JSON + JPEG per
frame); the JTA layout (JSON rows + H.264 video); and the JTA-Ext layout (CSV + JPEG). Target:
at least 15 frames/s for every layout on the project's 2-core machine.

    occbench perf synth [--frames N] [--persons P] [--size 960x540]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

TARGET_FPS = 15.0


def main(argv: list[str] | None = None) -> None:
    from occbench.datasets.synth.generate import SynthConfig, iter_frames, make_sequence
    from occbench.datasets.synth.writers import write_layout

    parser = argparse.ArgumentParser(prog="occbench perf synth", description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--persons", type=int, default=20)
    parser.add_argument("--size", default="960x540")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    config = SynthConfig(frames=args.frames, persons=args.persons, occluders=3, size=(width, height), seed=0)
    print(f"{args.frames} frames, {args.persons} people, {width}x{height}; target {TARGET_FPS:.0f} frames/s")

    start = time.perf_counter()
    seq = make_sequence(config, "test", 0)
    for _ in iter_frames(seq, config):
        pass
    elapsed = time.perf_counter() - start
    print(f"{'render + occlusion flags':28s} {args.frames / elapsed:7.1f} frames/s")
    work = Path(tempfile.mkdtemp(prefix="occbench-perf-synth-"))
    try:
        for layout in ("crowdpose", "jta", "jta-ext"):
            start = time.perf_counter()
            write_layout(layout, work / layout, config)
            fps = args.frames / (time.perf_counter() - start)
            verdict = "ok" if fps >= TARGET_FPS else "BELOW TARGET"
            print(f"{'layout ' + layout:28s} {fps:7.1f} frames/s   {fps / TARGET_FPS:4.2f}x target  {verdict}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
