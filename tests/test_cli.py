"""The CLI surface: every verb has help with an example; errors are one line and exit 1."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from occbench.cli import app


def _leaf_commands(command: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    sub = getattr(command, "commands", None)
    if not sub:
        return [prefix]
    out = []
    for name, child in sub.items():
        out += _leaf_commands(child, (*prefix, name))
    return out


def test_every_verb_has_help_with_an_example() -> None:
    root = typer.main.get_command(app)
    verbs = _leaf_commands(root)
    assert ("convert", "crowdpose") in verbs and ("info",) in verbs and ("export", "coco") in verbs
    runner = CliRunner()
    for verb in verbs:
        if verb == ("perf",):
            continue  # `perf` forwards --help to the named script; its own help is tested below
        result = runner.invoke(app, [*verb, "--help"], terminal_width=200)
        assert result.exit_code == 0, (verb, result.output)
        assert "Example" in result.output, verb


def test_perf_lists_scripts() -> None:
    result = CliRunner().invoke(app, ["perf"])
    assert result.exit_code == 0 and "convert" in result.output
    bad = CliRunner().invoke(app, ["perf", "nope"])
    assert bad.exit_code == 1 and "unknown perf script" in bad.output


def test_missing_dataset_is_one_line_error(tmp_path) -> None:
    result = CliRunner().invoke(app, ["info", str(tmp_path / "nothing")])
    assert result.exit_code == 1
    assert "not an occbench dataset" in result.output and "Traceback" not in result.output
