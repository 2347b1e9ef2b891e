"""Least privilege, for real: the ACL file ``baton acl`` generates, loaded into a throwaway Redis.

Each service runs its whole happy path (and its recovery paths) as its own user with nothing
refused, every forbidden cell of the matrix is refused (``ACL DRYRUN``, and live for a sample),
and the operator can read the dead-letter stream and re-publish from it.

A test-only ``admin`` user is appended to the generated file: it runs ``ACL DRYRUN`` and
``ACL LOG``, which no Baton user may.
"""

from __future__ import annotations

import re
import secrets
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from pydantic import SecretStr
from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, NoPermissionError, ResponseError

import services
from services.pipeline import PIPELINE
from shared.agents.guardrails import Budget, BudgetLedger
from shared.agents.llm.ratelimit import Limit, RateLimiter, rate_keys
from shared.ops.acl import AclPlan, password_hash, plan
from shared.ops.embedded import EmbeddedRedis, find_redis_server
from shared.pipeline.envelope import Envelope
from shared.pipeline.keys import Keys
from shared.pipeline.settings import BatonSettings, load_settings
from shared.pipeline.stage import PipelineStage
from shared.runtime.delivery import Delivery, as_text
from shared.runtime.outcome import Outcome
from shared.runtime.redis_client import connect, connect_for
from tests.helpers import DelegatingStage, InProcessPipeline, broken_triage, raw_command, wait_for
from tests.integration.test_escalations_cli import baton

ADMIN = "admin"
REDIS_CONF = Path(__file__).resolve().parents[2] / "deploy" / "redis" / "redis.conf"
SHA = "0" * 40
# Where each service may publish (from the design's stream table), besides the dead letters.
OUTPUTS = {
    "intake": ("handoffs",),
    "triage": ("handoffs",),
    "responder": ("handoffs",),
    "validator": ("triage", "responder", "responses", "escalations", "intake"),
}
STREAMS = ("intake", "handoffs", "triage", "responder", "responses", "escalations", "dlq")
Cmd = tuple[str, ...]


def server_version() -> tuple[int, int]:
    out = subprocess.run(
        [find_redis_server(), "--version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"v=(\d+)\.(\d+)", out)
    assert match, out
    return int(match[1]), int(match[2])


class AclRedis(EmbeddedRedis):
    """An embedded Redis that loads an ACL file, optionally with deploy/redis/redis.conf.

    Nobody can log in as the default user, so readiness is checked as the test admin.
    """

    def __init__(
        self, data_dir: Path, acl_text: str, admin_password: str, config: Path | None = None
    ) -> None:
        super().__init__(data_dir, appendfsync=None)
        self.acl_path = self.data_dir / "users.acl"
        admin = f"user {ADMIN} on #{password_hash(admin_password)} ~* &* +@all\n"
        self.acl_text = acl_text + admin
        self.admin_password = admin_password
        self.config = config

    def command(self) -> list[str]:
        own = ["--aclfile", str(self.acl_path)]
        if self.config is None:
            return [*super().command(), *own]
        return [
            find_redis_server(), str(self.config),
            "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir),
            "--logfile", "redis.log", "--daemonize", "no", *own,
        ]  # fmt: skip

    def start(self, timeout_s: float = 15.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.acl_path.write_text(self.acl_text)
        super().start(timeout_s)

    def ping(self) -> bool:
        return raw_command(self.port, f"AUTH {ADMIN} {self.admin_password}", "PING").endswith(
            b"+PONG\r\n"
        )


@dataclass
class AclServer:
    server: AclRedis
    plan: AclPlan
    keys: Keys
    admin: Redis
    clients: list[Redis] = field(default_factory=list)

    def client(self, user: str, **kwargs: Any) -> Redis:
        redis = connect(
            self.server.url, username=user, password=self.plan.passwords[user], **kwargs
        )
        self.clients.append(redis)
        return redis

    def credentials(self, user: str) -> dict[str, Any]:
        return {"redis_username": user, "redis_password": SecretStr(self.plan.passwords[user])}

    async def acl_log(self) -> list[dict[str, Any]]:
        entries = await execute(self.admin, "ACL", "LOG", "1000")
        return [_decode(e) for e in entries]

    async def dryrun(self, user: str, command: Cmd) -> str:
        try:
            reply = await execute(self.admin, "ACL", "DRYRUN", user, *command)
        except ResponseError as exc:
            return f"error: {exc}"
        return as_text(reply)


async def execute(client: Redis, *args: str) -> Any:
    return await client.execute_command(*args)  # type: ignore[no-untyped-call]


Entries = list[tuple[bytes, dict[bytes, bytes]]]


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list):
        if len(value) % 2 == 0 and all(isinstance(k, bytes) for k in value[::2]):
            return {k.decode(): _decode(v) for k, v in zip(value[::2], value[1::2], strict=True)}
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        return {_decode(k): _decode(v) for k, v in value.items()}
    return value


@pytest.fixture
async def acl(tmp_path: Path, prefix: str) -> AsyncIterator[AclServer]:
    acl_plan = plan(PIPELINE, prefix, redis_version=server_version())
    admin_password = secrets.token_hex(16)
    server = AclRedis(tmp_path / "redis", acl_plan.acl_file(), admin_password)
    server.start()
    admin = connect(server.url, username=ADMIN, password=admin_password)
    state = AclServer(server, acl_plan, Keys(prefix), admin)
    try:
        yield state
    finally:
        for client in state.clients:
            await client.aclose()
        await admin.aclose()
        server.stop()


# --- the file itself ---------------------------------------------------------------------------


async def test_generated_file_loads_with_every_user_and_nobody_can_log_in_as_default(
    acl: AclServer,
) -> None:
    names = {as_text(n) for n in await execute(acl.admin, "ACL", "USERS")}
    assert names == {
        "default", *PIPELINE.services, "operator", "viewer", "producer", "keda", ADMIN,
    }  # fmt: skip
    default = _decode(await execute(acl.admin, "ACL", "GETUSER", "default"))
    assert "on" in default["flags"]  # Redis < 8.4 replays the AOF's transactions as this user
    assert "nopass" not in default["flags"]
    assert len(default["passwords"]) == 1
    # No AUTH: refused; AUTH as default, with no password, an empty one or any guess: refused.
    assert raw_command(acl.server.port, "PING").startswith(b"-NOAUTH")
    for guess in ("anything", '""', "default", "nopass", *acl.plan.passwords.values()):
        reply = raw_command(acl.server.port, f"AUTH default {guess}")
        assert reply.startswith(b"-WRONGPASS"), (guess, reply)
    for password in acl.plan.passwords.values():
        assert password not in acl.server.acl_text


async def test_deploy_redis_conf_runs_with_the_acl_file(tmp_path: Path, prefix: str) -> None:
    """deploy/redis/redis.conf as the config (paths and port overridden), on a real Redis."""
    acl_plan = plan(PIPELINE, prefix, redis_version=server_version())
    admin_password = secrets.token_hex(16)
    # `dir /data` is applied while the file is parsed, before the command line can override it.
    text = REDIS_CONF.read_text()
    assert "\ndir /data\n" in text
    conf = tmp_path / "redis.conf"
    conf.write_text(text.replace("\ndir /data\n", f"\ndir {tmp_path / 'redis'}\n"))
    (tmp_path / "redis").mkdir()
    server = AclRedis(tmp_path / "redis", acl_plan.acl_file(), admin_password, config=conf)
    with server:
        admin = connect(server.url, username=ADMIN, password=admin_password)
        try:
            config = _decode(await admin.config_get("*"))
        finally:
            await admin.aclose()
    assert config["appendonly"] == "yes"
    assert config["appendfsync"] == "always"
    assert config["maxmemory-policy"] == "noeviction"
    assert config["aclfile"] == str(server.acl_path)


async def test_credentials_in_the_url_in_settings_or_both(acl: AclServer) -> None:
    password = acl.plan.passwords["intake"]
    host = f"127.0.0.1:{acl.server.port}/0"
    in_url = connect(f"redis://intake:{password}@{host}")
    user_in_url = connect(f"redis://intake@{host}", password=SecretStr(password))
    settings = load_settings(
        BatonSettings, redis_url=f"redis://{host}", **acl.credentials("intake")
    )
    from_settings = connect_for(settings)
    wrong = connect(f"redis://{host}", username="intake", password="not-the-password-at-all")
    try:
        for n, client in enumerate((in_url, user_in_url, from_settings)):
            assert await client.ping()
            assert await client.set(acl.keys.seen(f"e{n}"), "1", nx=True)  # intake's alone
        with pytest.raises(AuthenticationError):
            await wrong.ping()
    finally:
        for client in (in_url, user_in_url, from_settings, wrong):
            await client.aclose()
    assert password not in repr(settings)
    assert password not in str(settings.model_dump())


async def test_settings_read_the_redis_user_and_password_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BATON_REDIS_USERNAME", "triage")
    monkeypatch.setenv("BATON_REDIS_PASSWORD", "s3cret-value-from-env")
    settings = load_settings(BatonSettings)
    assert settings.redis_username == "triage"
    assert settings.redis_password is not None
    assert settings.redis_password.get_secret_value() == "s3cret-value-from-env"
    assert "s3cret-value-from-env" not in repr(settings)


# --- the matrix (ACL DRYRUN) -------------------------------------------------------------------


def worker_cells(k: Keys, service: str) -> tuple[list[Cmd], list[Cmd]]:
    source = k.stream(PIPELINE.input_stream(service))
    outputs = [k.stream(n) for n in OUTPUTS[service]] + [k.dlq]
    run, steps = k.run("e1"), k.run_steps("e1")
    beat, budget = k.heartbeat(service, "host-1-abc"), k.budget("e1")
    req, tok = rate_keys(k.prefix, "gpt-4o-mini")
    other = next(s for s in PIPELINE.services if s != service)
    allowed: list[Cmd] = [
        ("PING",), ("HELLO", "2"), ("CLIENT", "SETNAME", "w1"), ("MULTI",), ("EXEC",),
        ("XGROUP", "CREATE", source, service, "0", "MKSTREAM"),
        ("XREADGROUP", "GROUP", service, "c1", "COUNT", "10", "BLOCK", "100", "STREAMS", source,
         ">"),
        ("XACK", source, service, "1-0"),
        ("XCLAIM", source, service, "c1", "0", "1-0", "JUSTID"),
        ("XAUTOCLAIM", source, service, "c1", "1000", "0-0", "COUNT", "10"),
        ("XPENDING", source, service, "-", "+", "10"),
        ("XINFO", "CONSUMERS", source, service),
        ("XGROUP", "DELCONSUMER", source, service, "c2"),
        *[("XADD", out, "*", "f", "v") for out in outputs],
        ("HSET", run, "status", "ok"), ("HSETNX", run, "created_at", "1"),
        ("HGET", run, "last_error"), ("HINCRBY", run, "duplicates", "1"), ("RPUSH", steps, "{}"),
        ("PEXPIRE", run, "1000"), ("PEXPIRE", steps, "1000"), ("EXPIRE", run, "60"),
        ("SET", beat, "{}", "PX", "5000"), ("GET", beat), ("DEL", beat),
        ("EXISTS", k.heartbeat(service, "peer")),
        ("SCAN", "0", "MATCH", k.heartbeat(service, "host-*"), "COUNT", "100"),
        ("SCRIPT", "LOAD", "return 1"), ("SCRIPT", "EXISTS", SHA),
        ("EVALSHA", SHA, "3", source, outputs[0], run),
        ("EVALSHA", SHA, "2", k.dlq, steps),
        ("EVALSHA", SHA, "1", source),
    ]  # fmt: skip
    forbidden: list[Cmd] = [
        # the dead letters, and every stream it writes, are write-only
        ("XRANGE", k.dlq, "-", "+"), ("XREVRANGE", k.dlq, "+", "-"), ("XLEN", k.dlq),
        ("XREAD", "STREAMS", k.dlq, "0"), ("XINFO", "STREAM", k.dlq),
        ("XREADGROUP", "GROUP", "g", "c", "STREAMS", k.dlq, ">"),
        *[("XRANGE", out, "-", "+") for out in outputs],
        # no publishing anywhere else (its own input included)
        *[("XADD", k.stream(s), "*", "f", "v") for s in STREAMS
          if k.stream(s) not in outputs],
        ("XADD", f"other{k.prefix}:{OUTPUTS[service][0]}", "*", "f", "v"),
        # another service's input and keys
        ("XREADGROUP", "GROUP", other, "c", "STREAMS", k.stream(PIPELINE.input_stream(other)), ">"),
        ("SET", k.heartbeat(other, "x"), "1"), ("GET", k.seen("e1")),
        ("EVALSHA", SHA, "1", k.prefix + ":elsewhere"),
        # nothing destructive
        ("XTRIM", source, "MAXLEN", "0"), ("XDEL", source, "1-0"), ("DEL", source),
        ("UNLINK", source), ("XGROUP", "DESTROY", source, service),
        ("XGROUP", "SETID", source, service, "$"), ("XTRIM", k.dlq, "MAXLEN", "0"),
        ("XDEL", k.dlq, "1-0"), ("DEL", k.dlq), ("DEL", run), ("HDEL", run, "status"),
        # no server administration, no key listing, no arbitrary scripts, no pub/sub
        ("FLUSHALL",), ("FLUSHDB",), ("CONFIG", "GET", "*"), ("CONFIG", "SET", "appendfsync", "no"),
        ("KEYS", "*"), ("ACL", "LIST"), ("ACL", "SETUSER", service, "+@all"), ("SHUTDOWN",),
        ("DEBUG", "SLEEP", "0"), ("MONITOR",), ("INFO",), ("CLIENT", "LIST"),
        ("CLIENT", "KILL", "ID", "1"), ("SWAPDB", "0", "1"), ("SELECT", "1"), ("BGREWRITEAOF",),
        ("EVAL", "return 1", "0"), ("PUBLISH", "ch", "x"), ("SUBSCRIBE", "ch"),
        ("HGETALL", run), ("LRANGE", steps, "0", "-1"),
    ]  # fmt: skip
    if service == "intake":
        allowed += [("SET", k.seen("e1"), "1-0", "NX", "EX", "60"),
                    ("EVALSHA", SHA, "2", source, k.seen("e1"))]  # fmt: skip
    else:
        forbidden += [("SET", k.seen("e1"), "1-0", "NX", "EX", "60")]
    if service in PIPELINE.agent_names:
        allowed += [
            ("HMGET", budget, "tokens", "micro_usd"), ("HEXISTS", budget, "done:x"),
            ("HGET", budget, "res:x"), ("HINCRBY", budget, "tokens", "5"),
            ("HSET", budget, "res:x", "1:1"), ("HDEL", budget, "res:x"), ("EXPIRE", budget, "60"),
            ("EVALSHA", SHA, "1", budget),
            ("HGETALL", req), ("HDEL", req, "1"), ("HEXISTS", tok, "1"),
            ("HINCRBY", req, "1", "1"), ("HSET", tok, "1", "0"), ("PEXPIRE", req, "1000"),
            ("TIME",), ("EVALSHA", SHA, "2", req, tok),
        ]  # fmt: skip
    else:
        allowed += [("HMGET", budget, "tokens", "micro_usd")]
        forbidden += [("HINCRBY", budget, "tokens", "1"), ("HGETALL", req),
                      ("EVALSHA", SHA, "1", budget)]  # fmt: skip
    return allowed, forbidden


def operator_cells(k: Keys) -> tuple[list[Cmd], list[Cmd]]:
    run, steps = k.run("e1"), k.run_steps("e1")
    allowed: list[Cmd] = [
        ("PING",), ("SCAN", "0", "MATCH", f"{k.prefix}:heartbeat:*"), ("INFO",),
        *[cell for s in map(k.stream, STREAMS) for cell in (
            ("XRANGE", s, "-", "+"), ("XREVRANGE", s, "+", "-"), ("XLEN", s),
            ("XINFO", "GROUPS", s), ("XADD", s, "*", "payload", "{}"),
        )],
        ("XINFO", "STREAM", k.dlq), ("XINFO", "CONSUMERS", k.stream("intake"), "intake"),
        ("XPENDING", k.stream("triage"), "triage", "-", "+", "10"),
        ("XREAD", "STREAMS", k.responses, "0"),
        ("HGETALL", run), ("HGET", run, "status"), ("LRANGE", steps, "0", "-1"),
        ("HMGET", k.budget("e1"), "tokens"), ("GET", k.heartbeat("triage", "c")),
        ("XDEL", k.dlq, "1-0"), ("XTRIM", k.dlq, "MAXLEN", "0"), ("DEL", k.dlq),
        ("XADD", k.audit, "MAXLEN", "~", "100000", "*", "who", "alice"),
        ("XGROUP", "CREATE", k.escalations, "operators", "0", "MKSTREAM"),
        ("XREADGROUP", "GROUP", "operators", "cli", "STREAMS", k.escalations, ">"),
        ("XACK", k.escalations, "operators", "1-0"),
        ("HSET", run, "status", "resolved"), ("RPUSH", steps, "{}"), ("PEXPIRE", run, "1000"),
        ("EVALSHA", SHA, "3", k.escalations, k.responses, run), ("SCRIPT", "LOAD", "return 1"),
    ]  # fmt: skip
    forbidden: list[Cmd] = [
        ("FLUSHALL",), ("FLUSHDB",), ("CONFIG", "GET", "*"), ("KEYS", "*"), ("ACL", "LIST"),
        ("SHUTDOWN",), ("DEBUG", "SLEEP", "0"), ("MONITOR",), ("CLIENT", "LIST"),
        ("SWAPDB", "0", "1"), ("EVAL", "return 1", "0"),
        ("XGROUP", "DESTROY", k.stream("intake"), "intake"),
        ("XGROUP", "SETID", k.stream("intake"), "intake", "$"),
        ("XTRIM", k.stream("intake"), "MAXLEN", "0"), ("XDEL", k.handoffs, "1-0"),
        ("DEL", k.stream("intake")),
        ("XRANGE", f"other{k.prefix}:dlq", "-", "+"), ("SET", k.seen("e1"), "x"),
    ]  # fmt: skip
    return allowed, forbidden


def viewer_cells(k: Keys) -> tuple[list[Cmd], list[Cmd]]:
    """What the console shows viewers: reads only."""
    run, steps = k.run("e1"), k.run_steps("e1")
    allowed: list[Cmd] = [
        ("PING",), ("SCAN", "0", "MATCH", f"{k.prefix}:run:*"),
        *[cell for s in map(k.stream, (*STREAMS, "audit")) for cell in (
            ("XRANGE", s, "-", "+", "COUNT", "50"), ("XREVRANGE", s, "+", "-"), ("XLEN", s),
            ("XINFO", "GROUPS", s),
        )],
        ("XPENDING", k.dlq, "operators", "-", "+", "10"), ("XINFO", "STREAM", k.responses),
        ("XINFO", "CONSUMERS", k.stream("intake"), "intake"),
        ("HGETALL", run), ("LRANGE", steps, "0", "-1"), ("EXISTS", k.heartbeat("triage", "c")),
    ]  # fmt: skip
    forbidden: list[Cmd] = [
        *[("XADD", k.stream(s), "*", "f", "v") for s in (*STREAMS, "audit")],
        ("XACK", k.escalations, "operators", "1-0"), ("XDEL", k.dlq, "1-0"),
        ("XGROUP", "CREATE", k.escalations, "operators", "0", "MKSTREAM"),
        ("XREADGROUP", "GROUP", "operators", "cli", "STREAMS", k.escalations, ">"),
        ("XCLAIM", k.dlq, "operators", "c", "0", "1-0"), ("HSET", run, "status", "x"),
        ("RPUSH", steps, "{}"), ("DEL", run), ("EVALSHA", SHA, "1", k.dlq),
        ("SCRIPT", "LOAD", "return 1"), ("XRANGE", f"other{k.prefix}:dlq", "-", "+"),
        ("FLUSHALL",), ("KEYS", "*"), ("CONFIG", "GET", "*"), ("INFO",), ("ACL", "LIST"),
    ]  # fmt: skip
    return allowed, forbidden


def producer_cells(k: Keys) -> tuple[list[Cmd], list[Cmd]]:
    allowed: list[Cmd] = [
        ("PING",), ("XADD", k.stream("intake"), "*", "payload", "{}"),
        ("XRANGE", k.responses, "-", "+"),
        ("XREAD", "STREAMS", k.responses, "0"), ("XRANGE", k.escalations, "-", "+"),
        ("HGET", k.run("e1"), "status"),
    ]  # fmt: skip
    forbidden: list[Cmd] = [
        *[("XADD", k.stream(s), "*", "f", "v") for s in STREAMS if s != "intake"],
        ("XRANGE", k.stream("intake"), "-", "+"), ("XRANGE", k.dlq, "-", "+"),
        ("XREADGROUP", "GROUP", "intake", "c", "STREAMS", k.stream("intake"), ">"),
        ("HSET", k.run("e1"), "status", "x"), ("HGETALL", k.run("e1")), ("SCAN", "0"),
        ("EVALSHA", SHA, "1", k.stream("intake")), ("FLUSHALL",), ("KEYS", "*"),
        ("CONFIG", "GET", "*"),
    ]  # fmt: skip
    return allowed, forbidden


def keda_cells(k: Keys) -> tuple[list[Cmd], list[Cmd]]:
    inputs = [k.stream(PIPELINE.input_stream(s)) for s in PIPELINE.services]
    allowed: list[Cmd] = [("PING",), ("INFO", "server"), *[("XINFO", "GROUPS", s) for s in inputs],
                          *[("XLEN", s) for s in inputs]]  # fmt: skip
    forbidden: list[Cmd] = [
        ("XRANGE", k.stream("intake"), "-", "+"), ("XADD", k.stream("intake"), "*", "f", "v"),
        ("XINFO", "GROUPS", k.dlq), ("XLEN", k.responses),
        ("XREADGROUP", "GROUP", "intake", "c", "STREAMS", k.stream("intake"), ">"),
        ("XPENDING", k.stream("intake"), "intake"), ("FLUSHALL",), ("KEYS", "*"),
        ("CONFIG", "GET", "*"),
    ]  # fmt: skip
    return allowed, forbidden


def cells_for(user: str, k: Keys) -> tuple[list[Cmd], list[Cmd]]:
    if user in PIPELINE.services:
        return worker_cells(k, user)
    builders = {
        "operator": operator_cells, "viewer": viewer_cells, "producer": producer_cells,
        "keda": keda_cells,
    }  # fmt: skip
    return builders[user](k)


@pytest.mark.parametrize("user", [*PIPELINE.services, "operator", "viewer", "producer", "keda"])
async def test_acl_matrix(acl: AclServer, user: str) -> None:
    allowed, forbidden = cells_for(user, acl.keys)
    wrong = []
    for command in allowed:
        reply = await acl.dryrun(user, command)
        if reply != "OK":
            wrong.append(f"should be allowed: {' '.join(command)} -> {reply}")
    for command in forbidden:
        reply = await acl.dryrun(user, command)
        if "no permissions" not in reply:
            wrong.append(f"should be refused: {' '.join(command)} -> {reply}")
    assert not wrong, "\n".join(wrong)


# --- live refusals -----------------------------------------------------------------------------


async def test_forbidden_commands_are_refused_live_and_logged(acl: AclServer) -> None:
    k = acl.keys
    triage, validator = acl.client("triage"), acl.client("validator")
    await acl.admin.xadd(k.dlq, {"reason": "x"})
    await acl.admin.xadd(k.stream("triage"), {"envelope": "{}"})
    attempts: list[tuple[Redis, Cmd]] = [
        (triage, ("XADD", k.stream("intake"), "*", "payload", "{}")),
        (triage, ("XADD", k.responses, "*", "response", "{}")),
        (triage, ("XRANGE", k.dlq, "-", "+")),
        (triage, ("XTRIM", k.stream("triage"), "MAXLEN", "0")),
        (triage, ("XDEL", k.stream("triage"), "0-1")),
        (triage, ("XGROUP", "DESTROY", k.stream("triage"), "triage")),
        (triage, ("FLUSHALL",)),
        (triage, ("CONFIG", "GET", "appendfsync")),
        (triage, ("KEYS", "*")),
        (triage, ("EVAL", "return 1", "0")),
        (validator, ("XADD", k.handoffs, "*", "envelope", "{}")),
        (validator, ("XREVRANGE", k.dlq, "+", "-")),
    ]
    for client, command in attempts:
        with pytest.raises(NoPermissionError):
            await execute(client, *command)
    # A script runs its calls as the caller: loading one that reads the DLQ does not help.
    sha = await triage.script_load("return redis.call('XRANGE', KEYS[1], '-', '+')")
    with pytest.raises(ResponseError, match="can't run this command"):
        await triage.evalsha(sha, 1, k.dlq)
    assert await acl.admin.xlen(k.stream("triage")) == 1
    assert await acl.admin.xlen(k.dlq) == 1
    logged = {(e["username"], e["object"]) for e in await acl.acl_log()}
    expected_entries = [
        ("triage", k.stream("intake")), ("triage", "xtrim"), ("triage", "flushall"),
        ("triage", "keys"),
        ("triage", "xrange"), ("validator", k.handoffs),
    ]  # fmt: skip
    for expected in expected_entries:
        assert expected in logged, (expected, sorted(logged))


async def test_scripts_and_ledgers_work_under_the_service_users(acl: AclServer) -> None:
    """The budget ledger and the global LLM rate limit, each as its real user."""
    k = acl.keys
    triage, validator = acl.client("triage"), acl.client("validator")
    ledger = BudgetLedger(triage, k, ttl_s=60)
    await ledger.reserve("e1", "triage:0:1", 100, 0.01, Budget(tokens=1000, usd=1.0))
    assert await ledger.settle("e1", "triage:0:1", 80, 0.008)
    assert (await BudgetLedger(validator, k, ttl_s=60).spent("e1")).tokens == 80
    limiter = RateLimiter(triage, k.prefix, default=Limit(rpm=100, tpm=10_000), max_wait_s=1.0)
    reservation = await limiter.acquire("gpt-4o-mini", 50)
    assert reservation is not None
    await limiter.settle(reservation, 40)
    with pytest.raises(NoPermissionError):
        await BudgetLedger(validator, k, ttl_s=60).reserve(
            "e1", "validator:0:1", 1, 0.0, Budget(tokens=1000, usd=1.0)
        )
    refused = [e for e in await acl.acl_log() if e["username"] != "validator"]
    assert refused == []


# --- whole pipeline, each service as its own user ----------------------------------------------


def _per_service(acl: AclServer, **extra: Any) -> dict[str, dict[str, Any]]:
    return {s: {**acl.credentials(s), **extra} for s in PIPELINE.services}


async def test_pipeline_runs_with_each_service_as_its_own_user(acl: AclServer) -> None:
    k = acl.keys
    producer, operator = acl.client("producer"), acl.client("operator")
    intake = acl.client("intake")
    request = {"text": "My invoice is wrong, I was charged twice", "customer_id": "c-42",
               "channel": "email", "event_id": "e-1"}  # fmt: skip
    async with InProcessPipeline(acl.server.url, k.prefix, per_service=_per_service(acl)):
        await producer.xadd(k.stream("intake"), {"payload": orjson.dumps(request)})
        await producer.xadd(k.stream("intake"), {"payload": b'{"text": "truncated'})

        async def done() -> bool:
            return await operator.xlen(k.responses) == 1 and await operator.xlen(k.dlq) == 1

        await wait_for(done)
        # `baton worker intake --check` finds this host's heartbeat as the intake user.
        beats = [key async for key in intake.scan_iter(match=k.heartbeat("intake", "*"))]
        assert beats
        # The producer reads its outcome back (`baton post --wait`).
        assert await producer.hget(k.run("e-1"), "status") == b"responded"
        ((_, fields),) = cast(Entries, await producer.xrange(k.responses))
        assert fields[b"event_id"] == b"e-1"

        # The operator reads the dead letter and re-publishes it, then purges the original.
        ((dead_id, dead),) = cast(Entries, await operator.xrange(k.dlq))
        assert dead[b"reason"] == b"parse_error"
        await operator.xadd(k.stream("intake"), {"payload": dead[b"payload"]})
        await operator.xdel(k.dlq, dead_id)

        async def replayed() -> bool:
            return await operator.xlen(k.dlq) == 1

        await wait_for(replayed)
    assert await acl.acl_log() == []


class FailFirstDelivery(DelegatingStage):
    """Wraps a stage: every event fails once (a transient error), then goes through."""

    def __init__(self, inner: PipelineStage) -> None:
        super().__init__(inner)
        self.failed: set[str] = set()

    async def handle(self, envelope: Envelope, delivery: Delivery) -> Outcome:
        if envelope.event_id not in self.failed:
            self.failed.add(envelope.event_id)
            raise RuntimeError("transient failure (test)")
        return await self.inner.handle(envelope, delivery)


def _flaky_triage(settings: BatonSettings, redis: Redis) -> PipelineStage:
    return FailFirstDelivery(services.load("triage").build_stage(settings, redis))


async def test_recovery_paths_run_under_the_service_users(acl: AclServer) -> None:
    """Retries (MULTI note + claim script), reclaiming a dead peer's entry (XAUTOCLAIM,
    XPENDING) and removing a departed consumer (XINFO CONSUMERS, XGROUP DELCONSUMER)."""
    k = acl.keys
    operator = acl.client("operator")
    request = {"text": "My invoice is wrong, I was charged twice", "channel": "email"}
    # A consumer that took an event and died: its entry stays pending until a peer reclaims it.
    await acl.admin.xgroup_create(k.stream("intake"), "intake", id="0", mkstream=True)
    for n in (1, 2):
        await acl.admin.xadd(
            k.stream("intake"), {"payload": orjson.dumps({**request, "event_id": f"r-{n}"})}
        )
    await acl.admin.xreadgroup("intake", "ghost", {k.stream("intake"): ">"}, count=1)
    fast = {"llm_timeout_s": 0.5, "reclaim_idle_ms": 1000, "heartbeat_ttl_s": 1.0}
    async with InProcessPipeline(
        acl.server.url, k.prefix, stages={"triage": _flaky_triage},
        per_service=_per_service(acl, **fast),
    ):  # fmt: skip

        async def both_answered() -> bool:
            return await operator.xlen(k.responses) == 2

        await wait_for(both_answered)

        async def ghost_removed() -> bool:
            consumers = await operator.xinfo_consumers(k.stream("intake"), "intake")
            return all(as_text(c["name"]) != "ghost" for c in consumers)

        await wait_for(ghost_removed)
    for event_id in ("r-1", "r-2"):
        record = _decode(await operator.hgetall(k.run(event_id)))
        assert record["status"] == "responded"
        assert "transient failure" in record["last_error"]
    assert await acl.acl_log() == []


async def test_cli_runs_as_the_operator_and_health_checks_as_each_service(
    acl: AclServer,
) -> None:
    """`baton worker NAME --check` with the service's URL, `baton dlq ...` and `baton status`
    with the operator's: what docker-compose.yml runs, each with its own credentials."""
    k = acl.keys
    host = f"127.0.0.1:{acl.server.port}/0"

    def url(user: str) -> str:
        return f"redis://{user}:{acl.plan.passwords[user]}@{host}"

    producer = acl.client("producer")
    body = {"text": "I was charged twice for invoice 7", "event_id": "d-1"}
    async with InProcessPipeline(
        acl.server.url, k.prefix, stages={"triage": broken_triage}, per_service=_per_service(acl)
    ):
        await producer.xadd(k.stream("intake"), {"payload": orjson.dumps(body)})

        async def dead() -> bool:
            return as_text(await producer.hget(k.run("d-1"), "status") or b"") == "dead_lettered"

        await wait_for(dead)
        for service in PIPELINE.services:
            code, out = await baton(url(service), k.prefix, "worker", service, "--check")
            assert code == 0, (service, out)
        code, out = await baton(url("operator"), k.prefix, "status", "--json")
        assert code == 0, out
    code, out = await baton(url("operator"), k.prefix, "dlq", "list", "--json")
    assert code == 0, out
    assert orjson.loads(out)["counts"] == {"llm_error": 1}
    async with InProcessPipeline(acl.server.url, k.prefix, per_service=_per_service(acl)):
        code, out = await baton(url("operator"), k.prefix, "dlq", "replay", "--reason", "llm_error")
        assert (code, out.count(b"replayed")) == (0, 1), out

        async def answered() -> bool:
            return await producer.xlen(k.responses) == 1

        await wait_for(answered)
    code, out = await baton(url("operator"), k.prefix, "dlq", "purge", "--resolved", "--yes")
    assert code == 0, out
    assert await acl.admin.xlen(k.dlq) == 0
    assert await acl.acl_log() == []
    # No worker is running now: the health check fails.
    code, _ = await baton(url("intake"), k.prefix, "worker", "intake", "--check")
    assert code == 1
