"""``baton eval`` as a user runs it: a separate process, its exit codes, its report files, and the
comparison with a saved baseline."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
from redis.asyncio import Redis

from shared.ops.embedded import EmbeddedRedis
from shared.pipeline.keys import Keys
from tests.helpers import InProcessPipeline, post, terminal_count, wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
MINI = REPO_ROOT / "tests" / "fixtures" / "eval-mini.toml"


def baton(
    *args: str | Path, redis_url: str | None, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """Run ``baton eval ARGS``; without ``redis_url`` it starts its own Redis."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BATON_", "OPENAI_")) and k != "REDIS_URL"}  # fmt: skip
    if redis_url:
        env["REDIS_URL"] = redis_url
    log = tmp_path / "eval.log"
    command = [sys.executable, "-m", "shared.ops.cli.app", "eval", "--log-file", str(log),
               *map(str, args)]  # fmt: skip
    return subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def baton_eval(
    *args: str | Path, redis_url: str | None, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """``baton eval`` on the fixture suite, offline."""
    suite = ("--suite", MINI, "--provider", "offline")
    return baton(*suite, *args, redis_url=redis_url, tmp_path=tmp_path)


def report_of(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    report: dict[str, Any] = orjson.loads(done.stdout)
    return report


def test_without_redis_url_it_starts_its_own_redis_and_saves_a_report(tmp_path: Path) -> None:
    saved = tmp_path / "baseline.json"
    done = baton_eval("--json", "--save", saved, redis_url=None, tmp_path=tmp_path)

    assert done.returncode == 0, done.stderr
    report = report_of(done)
    assert report["kind"] == "baton-eval"
    assert report["outcome"]["passed"] == 7
    assert orjson.loads(saved.read_bytes())["outcome"] == report["outcome"]
    assert b"worker_started" in (tmp_path / "eval.log").read_bytes()  # logs kept off the report


def test_a_run_that_matches_its_baseline_passes_and_a_regression_fails_with_exit_1(
    redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    saved = tmp_path / "baseline.json"
    first = baton_eval("--save", saved, redis_url=redis_server.url, tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "routing accuracy" in first.stdout

    same = baton_eval("--baseline", saved, redis_url=redis_server.url, tmp_path=tmp_path)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "OK: every event reached an outcome and matches the baseline" in same.stdout

    # A baseline that took half the hops and tokens: this run regressed against it.
    baseline = orjson.loads(saved.read_bytes())
    baseline["process"]["hops"]["mean"] /= 2
    baseline["process"]["tokens"]["mean"] /= 2
    saved.write_bytes(orjson.dumps(baseline))
    worse = baton_eval("--baseline", saved, "--json", redis_url=redis_server.url,
                       tmp_path=tmp_path)  # fmt: skip
    assert worse.returncode == 1
    comparison = report_of(worse)["comparison"]
    assert comparison["regressions"] == ["hops_mean", "tokens_mean"]

    forgiven = baton_eval("--baseline", saved, "--tolerance", "tokens_mean=off",
                          "--tolerance", "hops_mean=1.5",
                          redis_url=redis_server.url, tmp_path=tmp_path)  # fmt: skip
    assert forgiven.returncode == 0, forgiven.stdout
    assert "reported only" in forgiven.stdout


def test_bad_input_is_a_usage_error_with_a_message_and_no_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('version = 1\n[[cases]]\nid = "a-case"\nchannel = "fax"\n')
    done = baton_eval("--suite", broken, redis_url=None, tmp_path=tmp_path)
    assert done.returncode == 2
    assert "case 'a-case' (cases[0]) channel: Input should be 'email'" in done.stderr
    assert "Traceback" not in done.stderr

    done = baton_eval("--case", "no-such-case", redis_url=None, tmp_path=tmp_path)
    assert done.returncode == 2
    assert "no such case in the suite: no-such-case" in done.stderr

    garbage = tmp_path / "garbage.json"
    garbage.write_text("{}")
    done = baton_eval("--baseline", garbage, redis_url=None, tmp_path=tmp_path)
    assert done.returncode == 2
    assert "not a `baton eval --save` report" in done.stderr

    garbage.write_text('{"kind": "baton-eval"}')
    done = baton_eval("--tolerance", "speed=3", "--baseline", garbage, redis_url=None,
                      tmp_path=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert "unknown tolerance 'speed'" in done.stderr


async def test_replay_from_the_command_line_compares_with_the_live_run_records(
    redis_server: EmbeddedRedis, redis: Redis, prefix: str, tmp_path: Path
) -> None:
    live = Keys(prefix)
    async with InProcessPipeline(redis_server.url, prefix, llm="offline"):
        first = await post(redis, live, {"text": "My invoice INV-5 is wrong", "event_id": "cli-1"})

        async def ended() -> bool:
            return await terminal_count(redis, live) == 1

        await wait_for(ended)

    replay = ("--replay", "--source-prefix", prefix, "--provider", "offline")
    done = await asyncio.to_thread(baton, *replay, "--since", first, "--json",
                                   redis_url=redis_server.url, tmp_path=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = report_of(done)
    assert report["kind"] == "baton-shadow"
    assert report["summary"]["same"] == 1
    assert report["events"][0]["event_id"] == "cli-1"

    vague = await asyncio.to_thread(baton, *replay, "--since", "yesterday",
                                    redis_url=redis_server.url, tmp_path=tmp_path)  # fmt: skip
    assert vague.returncode == 2
    assert "not a stream id, an age like 30m or 2h, or an ISO time" in vague.stderr
    empty = await asyncio.to_thread(baton, *replay, "--since", "+",
                                    redis_url=redis_server.url, tmp_path=tmp_path)  # fmt: skip
    assert empty.returncode == 1
    assert "nothing recorded" in empty.stderr
