"""Every command's --help reads cleanly: no reST backquotes, no template braces, no type tags."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from shared.ops.cli.app import COMMAND_MODULES, make_app

FORBIDDEN = ("``", "<bool>", "{", "}", "\\b")


def command_paths() -> list[list[str]]:
    root: Any = typer.main.get_command(make_app())
    paths: list[list[str]] = [[]]
    ctx = typer.Context(root)
    for name in root.list_commands(ctx):
        command = root.get_command(ctx, name)
        assert command is not None, name
        paths.append([name])
        if hasattr(command, "list_commands"):  # a group (dlq, runs, escalations)
            sub_ctx = typer.Context(command, parent=ctx)
            paths.extend([name, sub] for sub in command.list_commands(sub_ctx))
    return paths


PATHS = command_paths()


def test_every_command_is_listed() -> None:
    assert {p[0] for p in PATHS if p} == set(COMMAND_MODULES)
    assert ["dlq", "show"] in PATHS


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "baton")
def test_help_renders_cleanly(path: list[str]) -> None:
    result = CliRunner().invoke(make_app(), [*path, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    assert "Usage: baton" in result.output
    leftovers = [bad for bad in FORBIDDEN if bad in result.output]
    assert not leftovers, result.output
