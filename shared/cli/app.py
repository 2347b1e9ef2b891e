"""The ``baton`` command: one module per command group, each with a ``register(app)`` function.

Exit codes: 0 ok, 1 failure, 2 usage error (typer's own for bad arguments).
"""

from __future__ import annotations

import importlib
import sys

import typer

from shared.errors import BatonError

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
)

app = typer.Typer(
    name="baton",
    help="Baton: multi-agent LLM pipelines over Redis Streams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _name in COMMAND_MODULES:
    importlib.import_module(f"shared.cli.{_name}").register(app)


def main() -> None:
    try:
        app()
    except BatonError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
