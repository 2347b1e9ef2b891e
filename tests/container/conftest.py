"""The container tier: a Docker engine of its own, the base images it cannot pull, the project
image from deploy/Dockerfile, the real docker-compose.yml.

Skipped, saying why, only where no engine can run at all (no dockerd, not root); in CI
(``CI=true``) that is a failure instead, so the tier can never pass by not running.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from tests.container import images
from tests.container.engine import DEFAULT_ROOT, Engine, unavailable_reason


@dataclass
class Built:
    client: docker.DockerClient
    engine: Engine
    timings: dict[str, float]


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"container tier cannot run in CI: {reason}")
        pytest.skip(f"container tier: no Docker engine can run here: {reason}")
    root = Path(os.environ.get("BATON_CONTAINER_ROOT", str(DEFAULT_ROOT)))
    started = Engine(root)
    try:
        started.start().close()
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def built(engine: Engine) -> Iterator[Built]:
    """Base images (made once per data root) and the project image (built every session)."""
    client = docker.DockerClient(base_url=engine.url, timeout=900)
    try:
        timings = images.base_images(client)
        timings["project_image_s"] = round(images.project_image(client), 1)
        began = time.monotonic()
        images.project_image(client)  # again, nothing changed: every layer from the cache
        timings["project_image_cached_s"] = round(time.monotonic() - began, 1)
        yield Built(client, engine, timings)
    finally:
        # The data root is kept for its cache; the project images earlier runs left untagged
        # are not. Only those (by the image's label): the build stage's untagged layers hold
        # the cached dependency layer.
        client.images.prune(filters={"dangling": True, "label": images.PROJECT_LABEL})
        client.close()
