"""Mistakes people make with the CLI: each is one or two lines saying what is wrong and what to
do, exit code 2 for usage and configuration, 1 for a failure; --debug adds the traceback."""

from __future__ import annotations

import asyncio
import sys

import pytest

from shared.ops.embedded import EmbeddedRedis, free_port
from tests.fault.processes import REPO_ROOT, worker_env

UNREACHABLE = f"redis://127.0.0.1:{free_port()}/0"


async def baton(env: dict[str, str], *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.ops.cli.app", *args, cwd=REPO_ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, (out + err).decode()


MISTAKES = [
    pytest.param({}, ["post", ""], 2, "text: String should have at least 1 character",
                 id="empty-text"),
    pytest.param({}, ["post", "hi", "--channel", "E Mail"], 2, "channel: String should match",
                 id="bad-channel"),
    pytest.param({"REDIS_URL": UNREACHABLE}, ["status"], 1, "cannot reach Redis",
                 id="redis-unreachable"),
    pytest.param({"REDIS_URL": "localhost:6379"}, ["status"], 2, "REDIS_URL is not a Redis URL",
                 id="url-without-scheme"),
    pytest.param({"BATON_CONCURRENCY": "-1"}, ["status"], 2,
                 "invalid settings: BATON_CONCURRENCY: Input should be greater than or equal to 1",
                 id="bad-setting"),
    pytest.param({}, ["tail", "nosuchstream"], 2, "unknown stream 'nosuchstream'",
                 id="unknown-stream"),
    pytest.param({}, ["dlq", "show", "1-1"], 1, "no dead letter '1-1'", id="unknown-dead-letter"),
    pytest.param({}, ["post"], 2, "give either TEXT or --file", id="nothing-to-post"),
    pytest.param({}, ["frobnicate"], 2, "No such command", id="unknown-command"),
]  # fmt: skip


@pytest.mark.parametrize(("env", "args", "code", "message"), MISTAKES)
async def test_a_mistake_is_one_or_two_lines_and_the_right_exit_code(
    redis_server: EmbeddedRedis,
    prefix: str,
    env: dict[str, str],
    args: list[str],
    code: int,
    message: str,
) -> None:
    exit_code, output = await baton(worker_env(redis_server.url, prefix, env), *args)
    assert (exit_code, message in output) == (code, True), output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    if errors:  # ours (typer prints its own usage errors in a box)
        assert len(output.strip().splitlines()) <= 2, output


async def test_debug_shows_the_traceback_too(redis_server: EmbeddedRedis, prefix: str) -> None:
    env = worker_env(redis_server.url, prefix, {"REDIS_URL": UNREACHABLE})
    exit_code, output = await baton(env, "--debug", "status")
    assert exit_code == 1
    assert "Traceback" in output
    assert output.rstrip().endswith("or start one with `baton up`.")


async def test_a_refused_login_says_which_credentials_to_check(
    redis_server: EmbeddedRedis, prefix: str
) -> None:
    url = f"redis://nobody:wrong@127.0.0.1:{redis_server.port}/0"
    exit_code, output = await baton(worker_env(url, prefix), "status")
    assert exit_code == 1
    assert output.startswith("error: Redis refused the login"), output
    assert "credentials.env" in output
    assert "Traceback" not in output
