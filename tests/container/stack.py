"""The real docker-compose.yml, driven through the compose CLI (v2 where present, else v1).

Nothing in the file is overridden: its variables name what this machine has instead of a
registry (the locally made Redis image and the Python base), the loopback port Redis is published
on (never 6379) and the users file; Jaeger's profile stays off (no image for it here), so the
workers' exports have nowhere to go, which the tier checks they bear quietly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import docker
from docker.models.containers import Container

from shared.ops.acl import AclUser, parse_env
from tests.container.images import PROJECT, REDIS, REPO_ROOT, build_args

PROJECT_NAME = "baton-tier"


def compose_command() -> list[str]:
    """``docker compose`` (v2) when the plugin answers, else ``docker-compose`` (v1)."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return ["docker-compose"]


class Stack:
    def __init__(self, client: docker.DockerClient, engine_url: str, workdir: Path,
                 redis_port: int) -> None:  # fmt: skip
        self.client = client
        self.workdir = workdir
        self.redis_port = redis_port
        self.env_file = workdir / "credentials.env"
        self.users_file = workdir / "users.acl"
        repository, tag = PROJECT.split(":")
        self.env = {
            **os.environ,
            "DOCKER_HOST": engine_url,
            "COMPOSE_PROFILES": "",  # no Jaeger: no image for it on this machine
            "BATON_IMAGE_TAG": tag,
            "BATON_REDIS_IMAGE": REDIS,
            "BATON_PYTHON_IMAGE": build_args()["PYTHON_IMAGE"],
            "BATON_REDIS_PORT": str(redis_port),
            "BATON_REDIS_USERS_FILE": str(self.users_file),
        }
        assert repository == "baton"  # docker-compose.yml's image: baton:${BATON_IMAGE_TAG}
        self.command = [*compose_command(), "--project-name", PROJECT_NAME,
                        "--file", str(REPO_ROOT / "docker-compose.yml"),
                        "--env-file", str(self.env_file)]  # fmt: skip

    def write_users(self, redis_version: str) -> dict[str, str]:
        """``baton acl`` for the stack's Redis; the credentials it wrote."""
        subprocess.run(
            [sys.executable, "-m", "shared.ops.cli.app", "acl", "--out", str(self.users_file),
             "--env-file", str(self.env_file), "--redis-version", redis_version],
            check=True, capture_output=True, cwd=REPO_ROOT,
        )  # fmt: skip
        return parse_env(self.env_file.read_text())

    def url(self, credentials: dict[str, str], user: str) -> str:
        """A user's URL as seen from this host: the published loopback port."""
        url = credentials[AclUser(user, "").url_var]
        return url.replace("@redis:6379/", f"@127.0.0.1:{self.redis_port}/")

    def run(self, *args: str, timeout_s: float = 300) -> str:
        done = subprocess.run(
            [*self.command, *args], env=self.env, cwd=REPO_ROOT, capture_output=True,
            text=True, timeout=timeout_s, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"compose {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def containers(self, service: str | None = None) -> list[Container]:
        labels = [f"com.docker.compose.project={PROJECT_NAME}"]
        if service:
            labels.append(f"com.docker.compose.service={service}")
        found: list[Container] = self.client.containers.list(all=True, filters={"label": labels})
        return found

    def health(self, container: Container) -> str:
        container.reload()
        state = container.attrs["State"]
        if state["Status"] != "running":
            return str(state["Status"])
        return str(state.get("Health", {}).get("Status", "none"))

    def wait_healthy(self, services: dict[str, int], timeout_s: float = 180) -> None:
        """Until each service has its number of running containers, every one healthy."""
        deadline = time.monotonic() + timeout_s
        while True:
            seen = {s: [self.health(c) for c in self.containers(s)] for s in services}
            if all(
                states.count("healthy") == services[s] == len(states) for s, states in seen.items()
            ):
                return
            assert time.monotonic() < deadline, f"not healthy in {timeout_s}s: {seen}"
            time.sleep(1)

    def logs(self, service: str) -> list[str]:
        lines: list[str] = []
        for container in self.containers(service):
            lines += container.logs(stdout=True, stderr=True).decode(errors="replace").splitlines()
        return lines
