"""The ``baton`` command: one module per command group, each with a ``register(app)`` function.

Exit codes: 0 ok, 1 failure, 2 usage or configuration error. ``--debug`` anywhere on the command
line shows the traceback of a failure.
"""

from __future__ import annotations

import importlib
import sys

import typer

from shared.ops.cli.failure import explain, with_traceback

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

app = typer.Typer(
    name="baton",
    help="Baton: multi-agent LLM pipelines over Redis Streams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _name in COMMAND_MODULES:
    importlib.import_module(f"shared.ops.cli.{_name}").register(app)


def main() -> None:
    """Run the command; a failure it did not handle becomes one or two lines for a person
    (shared.ops.cli.failure), with the traceback only under --debug."""
    debug = "--debug" in sys.argv[1:]
    if debug:
        sys.argv.remove("--debug")
    try:
        app()
    except Exception as exc:
        failure = explain(exc)
        typer.echo(with_traceback(exc, failure) if debug else failure.message, err=True)
        sys.exit(failure.exit_code)


if __name__ == "__main__":
    main()
