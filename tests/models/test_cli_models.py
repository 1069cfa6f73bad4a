"""`occbench models`: the table for one family, and an unknown family as a user error."""

from __future__ import annotations

from typer.testing import CliRunner

from occbench.cli import app


def test_models_verb_lists_a_family_with_sizes() -> None:
    result = CliRunner().invoke(app, ["models", "--family", "cpm"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "31,304,166" in result.output and "63.74" in result.output  # cpm: params, GMACs at 256x192
    assert "cpm_tiny" in result.output and "hrnet_w32" not in result.output


def test_models_verb_rejects_an_unknown_family() -> None:
    result = CliRunner().invoke(app, ["models", "--family", "cpx"])
    assert result.exit_code == 1
    assert "unknown family 'cpx'" in result.output and "occnetcb" in result.output
