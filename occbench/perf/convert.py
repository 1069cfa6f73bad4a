"""Conversion time and peak memory for CrowdPose val (the issue's foundation benchmark).

Measures, in one run: ``json.load`` of the file (the floor any converter pays), the full
occbench conversion (parse, checks, crowdIndex, Parquet, manifest), loading the converted
split back, and the peak RSS of a fresh process doing the conversion versus one that only
imports occbench.

    occbench perf convert [--json PATH] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from occbench.perf._measure import best_time, mib, peak_rss_in_child

DEFAULT_JSON = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "crowdpose" / "crowdpose_val.json"


def _convert(src: str, out: str) -> None:
    from occbench.datasets.crowdpose import convert_crowdpose

    convert_crowdpose([Path(src)], Path(out), overwrite=True)


def _import_only() -> None:
    import occbench.datasets.crowdpose  # noqa: F401


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="occbench perf convert", description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="a CrowdPose JSON (default: shared val)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    if not args.json.exists():
        raise SystemExit(f"{args.json} not found; pass --json path/to/crowdpose_val.json")

    from occbench.datasets.store import open_dataset

    work = Path(tempfile.mkdtemp(prefix="occbench-perf-"))
    try:
        out = work / "ds"
        t_json = best_time(lambda: json.loads(args.json.read_bytes()), args.repeat)
        t_convert = best_time(lambda: _convert(str(args.json), str(out)), args.repeat)
        t_load = best_time(lambda: open_dataset(out).read_split("val"), args.repeat)
        _, rss_base = peak_rss_in_child(_import_only)
        _, rss_convert = peak_rss_in_child(_convert, str(args.json), str(work / "ds2"))
        size = args.json.stat().st_size
        print(f"input: {args.json} ({size / 2**20:.1f} MiB)")
        print(f"json.load                      {t_json * 1e3:8.1f} ms   (reference floor)")
        print(f"occbench convert crowdpose     {t_convert * 1e3:8.1f} ms   {t_convert / t_json:5.2f}x json.load")
        print(f"load converted split (Parquet) {t_load * 1e3:8.1f} ms   {t_load / t_json:5.2f}x json.load")
        print(f"peak RSS: import only {mib(rss_base)}, conversion {mib(rss_convert)} (+{mib(rss_convert - rss_base)})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
