"""``baton up`` as a real process for tests: its console read line by line, waited on by pattern."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
from pathlib import Path
from types import TracebackType

WAIT_S = 60.0


async def baton(cwd: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run one ``baton`` command to its end: exit code and output (stdout and stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.ops.cli.app", *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), WAIT_S)
    assert process.returncode is not None
    return process.returncode, out.decode()


class UpProcess:
    """``baton up ARGS`` in ``cwd``; stopped with SIGINT (then SIGKILL) when the block ends."""

    def __init__(self, cwd: Path, env: dict[str, str], *args: str) -> None:
        self.cwd = cwd
        self.env = env
        self.args = args
        self.lines: list[str] = []
        self._process: asyncio.subprocess.Process | None = None

    @property
    def process(self) -> asyncio.subprocess.Process:
        assert self._process is not None, "not started"
        return self._process

    async def __aenter__(self) -> UpProcess:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "shared.ops.cli.app", "up", *self.args,
            cwd=self.cwd, env=self.env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def wait_for(self, pattern: str, timeout_s: float = WAIT_S) -> re.Match[str]:
        """The first line (seen before or from now on) that ``pattern`` matches."""
        regex = re.compile(pattern)
        for seen in self.lines:
            if found := regex.search(seen):
                return found
        async with asyncio.timeout(timeout_s):
            while True:
                line = await self._next_line()
                if line is None:
                    raise AssertionError(f"up ended before {pattern!r}:\n" + self.output)
                if found := regex.search(line):
                    return found

    async def exit_code(self, timeout_s: float = WAIT_S) -> int:
        """Read to the end; the exit code."""
        async with asyncio.timeout(timeout_s):
            while await self._next_line() is not None:
                pass
            return await self.process.wait()

    async def stop(self) -> int:
        if self._process is None:
            return 0
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGINT)
            try:
                return await self.exit_code(30)
            except TimeoutError:
                self.process.kill()
        return await self.process.wait()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    async def _next_line(self) -> str | None:
        assert self.process.stdout is not None
        raw = await self.process.stdout.readline()
        if not raw:
            return None
        line = raw.decode().rstrip("\n")
        self.lines.append(line)
        return line
