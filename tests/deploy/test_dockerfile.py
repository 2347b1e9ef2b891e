"""deploy/Dockerfile, checked structurally (no Docker engine here)."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"


def stages() -> list[list[str]]:
    """Instructions per stage (continuation lines joined, comments dropped)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            found.append([])
        if found:
            found[-1].append(line)
    return found


def test_multi_stage_with_a_slim_python_311_base() -> None:
    build, runtime = stages()
    assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in DOCKERFILE.read_text()
    assert build[0] == "FROM ${PYTHON_IMAGE} AS build"
    assert runtime[0] == "FROM ${PYTHON_IMAGE} AS runtime"


def test_builds_without_a_registry_or_a_compiler() -> None:
    text = DOCKERFILE.read_text()
    # A `# syntax=` line makes BuildKit fetch its frontend image from a registry.
    assert not re.search(r"^#\s*syntax\s*=", text, re.MULTILINE | re.IGNORECASE)
    build = " ".join(stages()[0])
    for tool in ("build-essential", "gcc", "apt-get"):
        assert tool not in build
    assert "PIP_ONLY_BINARY=:all:" in build  # wheels only: a package without one fails the build


def test_dependencies_come_from_the_lock_in_a_layer_before_the_code() -> None:
    build = stages()[0]
    lock = next(n for n, line in enumerate(build) if "requirements.txt /tmp/" in line)
    install = next(n for n, line in enumerate(build) if "-r /tmp/requirements.txt" in line)
    first_code = next(n for n, line in enumerate(build) if line.startswith("COPY shared"))
    assert lock < install < first_code
    assert "--no-deps" in build[install]  # exactly the lock,
    assert "pip check" in build[install]  # and nothing missing from it


def test_the_final_image_has_no_build_tools_and_runs_as_non_root() -> None:
    runtime = stages()[-1]
    text = " ".join(runtime)
    for tool in ("build-essential", "gcc", "apt-get install", "pip install"):
        assert tool not in text
    assert any(line.startswith("COPY --from=build /opt/baton") for line in runtime)
    (user,) = [line.split()[1] for line in runtime if line.startswith("USER ")]
    uid = user.split(":")[0]
    assert uid.isdigit()  # numeric, so runAsNonRoot can verify it
    assert int(uid) != 0


def test_entrypoint_is_the_baton_command() -> None:
    runtime = stages()[-1]
    (entrypoint,) = [line for line in runtime if line.startswith("ENTRYPOINT ")]
    assert json.loads(entrypoint.removeprefix("ENTRYPOINT ")) == ["baton"]
    env = " ".join(line for line in runtime if line.startswith("ENV "))
    assert "PATH=/opt/baton/bin:$PATH" in env  # python -m services.<name> uses the venv too


def test_copies_only_what_the_dockerignore_lets_through() -> None:
    copied = [
        line.split()[1:-1] for line in stages()[0] if line.startswith("COPY ")
    ]  # fmt: skip
    sources = {s.rstrip("/") for group in copied for s in group}
    allowed = {
        line.strip()[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip().startswith("!")
    }
    assert sources <= allowed
    assert all((ROOT / s).exists() for s in sources)


def test_the_healthcheck_reads_the_heartbeat_file_the_worker_writes() -> None:
    runtime = stages()[-1]
    env = " ".join(line for line in runtime if line.startswith("ENV "))
    assert "BATON_HEARTBEAT_FILE=/tmp/" in env  # /tmp: writable, an emptyDir on Kubernetes
    (health,) = [line for line in runtime if line.startswith("HEALTHCHECK ")]
    assert health.endswith('CMD ["python", "-m", "shared.runtime.health"]')
