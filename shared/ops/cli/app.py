"""The ``baton`` command: one module per command group, each with a ``register(app)`` function.

A command's module is imported only when that command runs (``baton status`` never loads the
eval or the bench), so commands start fast. Exit codes: 0 ok, 1 failure, 2 usage or configuration
error. ``--debug`` anywhere on the command line shows the traceback of a failure.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer
from typer.core import TyperGroup

COMMAND_MODULES = (
    "up",
    "worker",
    "post",
    "status",
    "tail",
    "runs",
    "escalations",
    "dlq",
    "acl",
    "bench",
    "eval",
    "console",
)
"""Each names both the command and its module under ``shared.ops.cli``."""


class LazyGroup(TyperGroup):
    """Commands loaded from their module when asked for, by name."""

    # ctx and the command are click's types, or (typer 0.29 on) those of typer's own copy
    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMAND_MODULES)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMAND_MODULES:
            return None
        module = importlib.import_module(f"shared.ops.cli.{cmd_name}")
        holder = typer.Typer(add_completion=False, rich_markup_mode=None)
        module.register(holder)
        holder.callback()(_nothing)
        command = typer.main.get_group(holder).get_command(ctx, cmd_name)
        _tidy(command)
        return command


def _tidy(command: Any) -> None:
    """Help for people: ``NAME`` for an argument (not typer's ``{name}``), and docstrings'
    reST literals (double backquotes) as plain words."""
    if command.help:
        command.help = command.help.replace("``", "")
    for param in command.params:
        if param.param_type_name == "argument" and param.metavar is None:
            param.metavar = param.name.upper()
            if hasattr(param, "_usage_display_name"):  # typer 0.29 writes {name} in the usage
                param._usage_display_name = _usage_name(param)
        if getattr(param, "help", None):
            param.help = param.help.replace("``", "")
    for sub in getattr(command, "commands", {}).values():
        _tidy(sub)


def _usage_name(param: Any) -> Any:
    name = param.metavar if param.required else f"[{param.metavar}]"
    return lambda: name + ("..." if param.nargs != 1 else "")


def _nothing() -> None:
    # A callback makes a group even of one command, so the command is found by name.
    return None


def make_app() -> typer.Typer:
    app = typer.Typer(
        name="baton",
        cls=LazyGroup,
        help="Baton: multi-agent LLM pipelines over Redis Streams.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    app.callback()(_nothing)
    return app


def main(args: list[str] | None = None) -> None:
    """Run the command; a failure it did not handle becomes one or two lines for a person
    (shared.ops.cli.failure), with the traceback only under --debug."""
    # redis-py loads OpenTelemetry's metrics SDK when it can (a tenth of a second at start) for
    # client metrics Baton never turns on: the CLI does without it, as workers do
    # (shared.runtime.heap).
    sys.modules.setdefault("opentelemetry.sdk.metrics", None)  # type: ignore[arg-type]
    argv = list(sys.argv[1:] if args is None else args)
    debug = "--debug" in argv
    if debug:
        argv.remove("--debug")
    try:
        make_app()(argv, prog_name="baton")
    except Exception as exc:
        from shared.ops.cli.failure import explain, with_traceback

        failure = explain(exc)
        typer.echo(with_traceback(exc, failure) if debug else failure.message, err=True)
        sys.exit(failure.exit_code)


if __name__ == "__main__":
    main()
