"""``baton eval``: score the pipeline on a suite of requests, or shadow-replay recorded traffic.

Exit codes: 0 when every event reached an outcome (and, with ``--baseline``, nothing regressed
beyond its tolerance); 1 when an event was lost, a figure regressed, or the run could not run;
2 for bad arguments, a bad suite file or a bad baseline.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import orjson
import typer
from rich.console import Console
from rich.progress import Progress as Bar

from shared.observability.logging import configure_logging
from shared.ops.cli import common
from shared.ops.cli.duration import duration_opt
from shared.ops.eval import baseline as baselines
from shared.ops.eval import report as reports
from shared.ops.eval.baseline import BaselineError
from shared.ops.eval.evaluate import run_suite, select, selection
from shared.ops.eval.session import Progress, RunOptions, eval_redis
from shared.ops.eval.shadow import ShadowError, Window, shadow_replay, stream_bound
from shared.ops.eval.suite import DEFAULT_SUITE, LoadedSuite, SuiteError, load_suite
from shared.pipeline.settings import BatonSettings, LLMProvider
from shared.runtime import eventloop

T = TypeVar("T")
LOG_FILE = common.STATE_DIR / "logs" / "eval.log"
REPORT_WIDTH = 140


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)


def eval_command(
    suite: Annotated[Path | None, typer.Option(
        help="suite file (TOML); default: the reference suite")] = None,
    provider: Annotated[str | None, typer.Option(
        help="offline or openai; default: as BATON_LLM says")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=1000, help="events in flight")] = 8,
    timeout: Annotated[float, duration_opt(
        "how long an event may take before it counts as lost")] = 120.0,
    tag: Annotated[list[str] | None, typer.Option(
        help="only cases with this tag (repeatable)")] = None,
    case: Annotated[list[str] | None, typer.Option(help="only this case (repeatable)")] = None,
    baseline: Annotated[Path | None, typer.Option(
        help="compare with this saved report; exit 1 on a regression")] = None,
    tolerance: Annotated[list[str] | None, typer.Option(
        help="NAME=VALUE or NAME=off, over the defaults and the baseline's (repeatable)")] = None,
    save: Annotated[Path | None, typer.Option(
        help="write the JSON report here (what --baseline reads)")] = None,
    replay: Annotated[bool, typer.Option(
        "--replay", help="shadow-replay traffic recorded in the intake stream instead")] = False,
    since: Annotated[str | None, typer.Option(
        help="with --replay: stream id, ISO time (UTC) or age like 30m, 2h, 1d")] = None,
    until: Annotated[str | None, typer.Option(help="with --replay: end of the window")] = None,
    source_prefix: Annotated[str | None, typer.Option(
        help="with --replay: prefix of the live streams; default: BATON_PREFIX")] = None,
    limit: Annotated[int, typer.Option(
        min=1, max=100_000, help="with --replay: at most this many entries")] = 1000,
    log_file: Annotated[Path, typer.Option(help="the services' logs")] = LOG_FILE,
    as_json: Annotated[bool, typer.Option("--json", help="print the JSON report")] = False,
) -> None:  # fmt: skip
    """Run a suite through the real pipeline (own prefix) and report outcome and process metrics;
    or, with --replay, re-feed recorded traffic and report changed decisions."""
    if timeout < 1:
        raise typer.BadParameter("at least 1s", param_hint="--timeout")
    config = common.settings()
    options = RunOptions(provider=_provider(provider), concurrency=concurrency, timeout_s=timeout)
    console = Console(stderr=as_json)
    if not console.is_terminal:
        console.width = REPORT_WIDTH  # CI logs and files: wide enough for the failed cases
    if replay:
        if since is None:
            raise typer.BadParameter("--replay needs --since")
        if suite or tag or case or baseline or tolerance or save:
            raise typer.BadParameter("--replay takes no suite, --baseline, --tag, --case or --save")
        window = _usage(lambda: Window(stream_bound(since), stream_bound(until or "+"), limit))
        source = source_prefix or config.prefix
        with _logging_to(config, log_file):
            result = _replay(config, source, window, options, console)
        _finish(result, as_json, lambda: reports.render_shadow(result, console))
    if since or until or source_prefix:
        raise typer.BadParameter("--since, --until and --source-prefix go with --replay")
    loaded = _usage(lambda: load_suite(suite or DEFAULT_SUITE))
    tags, ids = tag or [], case or []
    _usage(lambda: select(loaded.cases, tags, ids))  # before anything starts
    saved = _usage(lambda: baselines.load_baseline(baseline)) if baseline else None
    limits = _usage(lambda: baselines.tolerances(saved or {}, tolerance or []))
    if saved is not None:
        _usage(lambda: baselines.check_selection(saved, selection(tags, ids)))
    with _logging_to(config, log_file), _progress(console, loaded.path.name) as progress:
        work = _evaluate(config.redis_url, loaded, options, tags, ids, progress)
        result = _run(work, console)
    if saved is not None:
        _compare(result, saved, limits)
    if save:
        kept = {k: v for k, v in result.items() if k != "comparison"}
        save.write_bytes(orjson.dumps(kept, option=orjson.OPT_INDENT_2) + b"\n")
        console.print(f"report saved to {save}")
    _finish(result, as_json, lambda: reports.render(result, console))


def _replay(
    config: BatonSettings, source: str, window: Window, options: RunOptions, console: Console
) -> dict[str, Any]:
    """Shadow replay on the live Redis (``REDIS_URL``, or the one ``baton up`` started)."""
    url = common.redis_url(config)
    with _progress(console, "replaying") as progress:
        return _run(shadow_replay(url, source, window, options, on_progress=progress), console)


def _compare(
    result: dict[str, Any], saved: dict[str, Any], limits: dict[str, float | None]
) -> None:
    result["comparison"] = baselines.compare(result, saved, limits)
    result["ok"] = result["ok"] and result["comparison"]["ok"]
    if "tolerances" in saved:
        result["tolerances"] = saved["tolerances"]  # a re-saved baseline keeps them


async def _evaluate(
    redis_url: str | None,
    loaded: LoadedSuite,
    options: RunOptions,
    tags: list[str],
    ids: list[str],
    progress: Progress | None,
) -> dict[str, Any]:
    """On ``REDIS_URL`` under a prefix of its own, or on a throwaway embedded Redis."""
    async with eval_redis(redis_url) as url:
        return await run_suite(loaded, url, options, tags=tags, ids=ids, on_progress=progress)


def _provider(value: str | None) -> LLMProvider | None:
    if value is None:
        return None
    if value not in ("offline", "openai"):
        raise typer.BadParameter("--provider must be offline or openai")
    return "offline" if value == "offline" else "openai"


def _usage(make: Callable[[], T]) -> T:
    """A bad suite, baseline or time is a usage error: its message, exit 2, no traceback."""
    try:
        return make()
    except (SuiteError, BaselineError, ShadowError) as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(2) from exc


def _run(work: Coroutine[Any, Any, T], console: Console) -> T:
    try:
        return eventloop.run(work)
    except KeyboardInterrupt:
        console.print("interrupted")
        raise typer.Exit(130) from None


def _finish(result: dict[str, Any], as_json: bool, render: Callable[[], None]) -> NoReturn:
    if as_json:
        common.print_json(result)
    else:
        render()
    sys.exit(0 if result["ok"] else 1)


@contextmanager
def _logging_to(config: BatonSettings, path: Path) -> Iterator[None]:
    """The in-process services log to ``path``, not over the report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as stream:
        configure_logging(config, to=stream)
        yield


@contextmanager
def _progress(console: Console, label: str) -> Iterator[Progress | None]:
    """A progress bar on a terminal (stderr with --json); nothing otherwise."""
    if not console.is_terminal:
        yield None
        return
    with Bar(console=console, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
