"""Redis as Baton ships it: deploy/redis/redis.conf and the users file ``baton acl`` writes.

Only what cannot be the same on a test machine is overridden: the port, the bind address, the
data directory, the log file and the users file's path. ``dir`` is applied while the file is
parsed, before the command line could override it, so the test runs a copy of the file with that
one line changed. Every client logs in as a Baton user.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

from shared.ops.acl import parse_env
from shared.ops.embedded import EmbeddedRedis, find_redis_server
from tests.fault.processes import REPO_ROOT, worker_env
from tests.helpers import raw_command

REDIS_CONF = REPO_ROOT / "deploy" / "redis" / "redis.conf"
# The default user as `baton acl` wrote it before 2026-12: off. Kept to prove what it lost.
DEFAULT_OFF = "user default off resetpass resetkeys resetchannels -@all"


def server_version() -> tuple[int, int, int]:
    out = subprocess.run(
        [find_redis_server(), "--version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"v=(\d+)\.(\d+)\.(\d+)", out)
    assert match, out
    return int(match[1]), int(match[2]), int(match[3])


class ShippedRedis(EmbeddedRedis):
    """``redis-server deploy/redis/redis.conf`` with the given users file; ready once ``login``
    (a Baton user and its password) gets a PONG, i.e. after the AOF has been loaded."""

    def __init__(self, data_dir: Path, acl_path: Path, login: tuple[str, str], port: int) -> None:
        super().__init__(data_dir, appendfsync="always", port=port)
        self.acl_path = acl_path
        self.login = login

    @property
    def config_path(self) -> Path:
        return self.data_dir.parent / "redis.conf"

    def start(self, timeout_s: float = 15.0) -> None:
        text = REDIS_CONF.read_text()
        assert text.count("\ndir /data\n") == 1
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(text.replace("\ndir /data\n", f"\ndir {self.data_dir}\n"))
        super().start(timeout_s)

    def command(self) -> list[str]:
        return [
            find_redis_server(), str(self.config_path),
            "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir),
            "--aclfile", str(self.acl_path), "--logfile", "redis.log", "--daemonize", "no",
        ]  # fmt: skip

    def ping(self) -> bool:
        user, password = self.login
        reply = raw_command(self.port, f"AUTH {user} {password}", "PING")
        return reply.endswith(b"+PONG\r\n")

    def log(self) -> str:
        return (self.data_dir / "redis.log").read_text(errors="replace")


async def baton_acl(directory: Path, prefix: str, port: int) -> dict[str, str]:
    """Run the real ``baton acl`` for a Redis on 127.0.0.1:``port``; the credentials it wrote."""
    version = "{}.{}".format(*server_version()[:2])
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.ops.cli.app", "acl",
        "--out", str(directory / "users.acl"), "--env-file", str(directory / "credentials.env"),
        "--prefix", prefix, "--host", f"127.0.0.1:{port}", "--redis-version", version,
        cwd=REPO_ROOT, env=worker_env("", prefix), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await process.communicate()
    assert process.returncode == 0, out.decode()
    return parse_env((directory / "credentials.env").read_text())


def put_back_default_off(acl_path: Path) -> None:
    """Rewrite the users file with the default user off, as it shipped before."""
    lines = acl_path.read_text().splitlines()
    assert lines[0].startswith("user default ")
    acl_path.write_text("\n".join([DEFAULT_OFF, *lines[1:]]) + "\n")
