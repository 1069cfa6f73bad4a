"""The ``occbench`` command line: one thin Typer verb per user job.

Each verb parses its options and calls one function of a subpackage. ``OccbenchError``
(bad input) is printed as one line naming the file, record and field, and exits 1.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from occbench.errors import OccbenchError

app = typer.Typer(
    name="occbench",
    help="Benchmark suite for human pose estimation in crowded, occluded scenes.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)
convert_app = typer.Typer(help="Convert a source dataset into the unified occbench format.", no_args_is_help=True)
export_app = typer.Typer(help="Export a unified dataset to another format.", no_args_is_help=True)
app.add_typer(convert_app, name="convert")
app.add_typer(export_app, name="export")

console = Console(stderr=True)

OutOption = Annotated[Path, typer.Option("--out", "-o", help="Output dataset folder.")]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace the output if it exists.")]


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except OccbenchError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
