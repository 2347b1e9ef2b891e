"""docker-compose.yml, checked without a Docker engine.

Against the compose-spec JSON schema (as vendored by check-jsonschema), with ``docker-compose
config`` where that tool is installed, and against the project's own rules the schema cannot
express: scalable workers, loopback-only ports, a Redis user per service, durability settings.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema.validators import validator_for

from services.pipeline import PIPELINE
from shared.ops.acl import build_users, plan
from shared.ops.cli.acl import DEFAULT_OUT, ENV_FILE_NAME
from shared.pipeline.settings import BatonSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
REDIS_CONF = ROOT / "deploy" / "redis" / "redis.conf"
USERS = {u.name: u for u in build_users(PIPELINE)}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def seconds(duration: str) -> float:
    """A compose duration (``1m30s``, ``45s``, ``500ms``) in seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def redis_conf() -> dict[str, str]:
    values = {}
    for line in REDIS_CONF.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.strip().partition(" ")
            values[name] = value
    return values


def test_matches_the_compose_spec_schema(compose: dict[str, Any]) -> None:
    text = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    schema = json.loads(text.read_text())
    validator = validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert not errors, "\n".join(errors)


def test_compose_runs_exactly_the_declared_services(compose: dict[str, Any]) -> None:
    workers = {
        name: service["command"][1]
        for name, service in compose["services"].items()
        if service.get("command", [None])[0] == "worker"
    }
    assert workers == {name: name for name in PIPELINE.services}


def test_workers_scale_with_docker_compose_scale(compose: dict[str, Any]) -> None:
    for name in PIPELINE.services:
        service = compose["services"][name]
        for fixed in ("container_name", "ports", "hostname"):
            assert fixed not in service, f"{name}: {fixed} prevents --scale {name}=N"
        assert service["command"] == ["worker", name]
        assert service["image"] == compose["services"]["intake"]["image"]  # one image for all
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert (ROOT / service["build"]["context"] / service["build"]["dockerfile"]).exists()
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert service["restart"] == "unless-stopped"


def test_worker_healthcheck_reads_the_heartbeat_file(compose: dict[str, Any]) -> None:
    for name in PIPELINE.services:
        health = compose["services"][name]["healthcheck"]
        assert health["test"] == ["CMD", "python", "-m", "shared.runtime.health"]
        # A heartbeat lives heartbeat_ttl_s (15 s by default): check at least that often.
        assert seconds(health["interval"]) <= BatonSettings().heartbeat_ttl_s
        assert seconds(health["timeout"]) < seconds(health["interval"])


def test_stop_grace_period_exceeds_the_shutdown_grace(compose: dict[str, Any]) -> None:
    default_grace = BatonSettings().shutdown_grace_s
    for name in PIPELINE.services:
        service = compose["services"][name]
        grace = float(service["environment"].get("BATON_SHUTDOWN_GRACE_S", default_grace))
        assert seconds(service["stop_grace_period"]) > grace >= default_grace


def test_every_service_is_its_own_redis_user_and_is_traced(compose: dict[str, Any]) -> None:
    names = set()
    for name in PIPELINE.services:
        env = compose["services"][name]["environment"]
        assert env["REDIS_URL"].startswith("${" + USERS[name].url_var + ":?")
        assert env["BATON_PREFIX"].startswith("${BATON_PREFIX:-")
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"  # OTLP over HTTP
        names.add(env["OTEL_SERVICE_NAME"])
    assert len(names) == len(PIPELINE.services)
    tools = {s: compose["services"][s] for s in ("cli", "demo", "console")}
    assert tools["cli"]["environment"]["REDIS_URL"].startswith("${BATON_OPERATOR_REDIS_URL:?")
    console = tools["console"]["environment"]
    assert console["BATON_OPERATOR_REDIS_URL"].startswith("${BATON_OPERATOR_REDIS_URL:?")
    assert console["BATON_VIEWER_REDIS_URL"].startswith("${BATON_VIEWER_REDIS_URL:?")
    assert tools["demo"]["environment"]["REDIS_URL"].startswith("${BATON_PRODUCER_REDIS_URL:?")
    assert all(t["profiles"] for t in tools.values())


def test_published_ports_bind_loopback_only(compose: dict[str, Any]) -> None:
    published: dict[str, set[str]] = {}
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert isinstance(port, str), (name, port)
            assert port.startswith("127.0.0.1:"), (name, port)
            published.setdefault(name, set()).add(port.rsplit(":", 1)[1])
    assert published == {
        "redis": {"6379"}, "jaeger": {"4317", "4318", "16686"}, "console": {"8470"},
    }  # fmt: skip


def _target_and_source(volume: str) -> tuple[str, str]:
    """``SOURCE:TARGET[:ro]`` (SOURCE may hold ``${VAR:-default}``) as (TARGET, SOURCE)."""
    match = re.fullmatch(r"(.+):(/[^:]*)(?::ro)?", volume)
    assert match, volume
    return match.group(2), match.group(1)


def test_redis_is_durable_private_and_loads_the_acl_file(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    # The image is a variable (a machine without a registry names a local one) with a default.
    image = re.fullmatch(r"\$\{BATON_REDIS_IMAGE:-(.+)\}", redis["image"])
    assert image, redis["image"]
    assert re.fullmatch(r"redis:7(\.\d+)*(-[a-z0-9]+)?", image.group(1))
    conf_in_container = redis["command"][1]
    mounts = dict(_target_and_source(v) for v in redis["volumes"])
    conf = redis_conf()
    assert conf["appendonly"] == "yes"
    assert conf["appendfsync"] == "always"
    assert conf["maxmemory-policy"] == "noeviction"
    assert mounts[conf_in_container] == "./deploy/redis/redis.conf"
    assert mounts[conf["aclfile"]] == "${BATON_REDIS_USERS_FILE:-./" + DEFAULT_OUT.as_posix() + "}"
    assert mounts[conf["dir"]] in compose["volumes"]  # a named volume keeps the AOF
    assert "appendfsync always" in COMPOSE.read_text()  # documented where it is deployed
    assert "NOAUTH" in " ".join(redis["healthcheck"]["test"])  # default user off


def test_jaeger_is_a_pinned_v2(compose: dict[str, Any]) -> None:
    assert re.fullmatch(r"jaegertracing/jaeger:2\.\d+\.\d+", compose["services"]["jaeger"]["image"])


def test_credentials_stay_out_of_git_and_the_image() -> None:
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert DEFAULT_OUT.as_posix() in ignored
    assert (DEFAULT_OUT.parent / ENV_FILE_NAME).as_posix() in ignored
    patterns = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]  # fmt: skip
    assert patterns[0] == "**"  # an allowlist: only what the image needs is sent to the builder
    assert not any(p.startswith("!deploy/redis") or p.endswith(".env") for p in patterns)


def _compose_command() -> list[str] | None:
    if shutil.which("docker") and subprocess.run(
        ["docker", "compose", "version"], capture_output=True, check=False
    ).returncode == 0:  # fmt: skip
        return ["docker", "compose"]
    found = shutil.which("docker-compose")
    return [found] if found else None


@pytest.mark.skipif(_compose_command() is None, reason="needs docker compose or docker-compose")
def test_docker_compose_config_accepts_it(tmp_path: Path) -> None:
    command = _compose_command()
    assert command is not None
    env_file = tmp_path / ENV_FILE_NAME
    env_file.write_text(plan(PIPELINE, "baton").env_file())
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("BATON_", "REDIS_"))}
    base = [*command, "--project-directory", str(ROOT), "-f", str(COMPOSE)]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base, *args], capture_output=True, text=True, env=clean_env, check=False, timeout=60
        )

    result = run("--env-file", str(env_file), "config", "-q")
    assert result.returncode == 0, result.stderr
    listed = run("--env-file", str(env_file), "--profile", "tools", "--profile", "demo",
                 "config", "--services")  # fmt: skip
    expected = {"redis", "jaeger", *PIPELINE.services, "cli", "demo", "console"}
    assert set(listed.stdout.split()) == expected
    # Without the credentials it refuses, and says what to do.
    missing = run("config", "-q")
    assert missing.returncode != 0
    assert "baton acl" in missing.stderr
