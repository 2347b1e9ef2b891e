"""Least privilege in Redis: one ACL user per service, an operator, a read-only viewer (the
console's), a producer and KEDA.

Every rule is derived from the pipeline's declaration (:mod:`shared.pipeline.spec`: which stream
a service reads and where it may publish), the key layout in :mod:`shared.runtime.keys` and the
commands the runtime really sends (the consumer, the reclaimer, the fenced commit, the Lua scripts,
redis-py's connection set-up and ``baton worker NAME --check``). Each group of commands is bound
to its own keys with an ACL *selector* (Redis 7+), so that, for instance, a worker may ``DEL`` its
heartbeat but not a stream, and ``XADD`` to the streams it feeds but never read them.

Scripts run every call under the caller's ACL, so each key a script touches is allowed for that
call as well; ``EVALSHA`` itself declares its keys as read-write, so the selector that lets a
service run the commit script names (read-write) the keys the script is given, while the calls
inside still obey the narrower rules (a worker's script cannot read the dead-letter stream).

The ``default`` user stays *on* with every right, behind a random 256-bit password that is hashed
into the file and kept nowhere, so nobody can log in as it. It cannot be turned off: Redis before
8.4 writes a script's effects to the append-only file inside MULTI/EXEC and, while loading that
file, re-checks each EXEC against the default user (redis/redis#14541). With the default user off
every such transaction is refused at restart, and every Baton commit is a script: acknowledged
events would be lost. See :mod:`shared.ops.durability`.

The ACL file holds only SHA-256 hashes of the passwords; the clear passwords go to a companion
env file (``BATON_<USER>_REDIS_PASSWORD`` and a ready ``BATON_<USER>_REDIS_URL`` per user) that
``docker compose --env-file`` and ``kubectl create secret --from-env-file`` read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from shared.errors import ConfigError
from shared.pipeline import Pipeline
from shared.pipeline.keys import Keys

PREFIX_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # as BatonSettings.prefix: no glob chars
PASSWORD_BYTES = 32
MIN_PASSWORD_CHARS = 16

# What redis-py sends on every new connection (HELLO and AUTH, CLIENT SETNAME when a client name is
# given) and its health checks (PING). Clients also send CLIENT SETINFO (Redis 7.2+; redis-py and
# go-redis ignore its errors, but each refusal would land in ACL LOG): granted by build_users on
# servers that know it.
CONNECTION = ("auth", "hello", "ping", "client|setname")
SETINFO_SINCE = (7, 2)
DEFAULT_REDIS_VERSION = (7, 2)  # the server docker-compose.yml runs
# redis-py's Script: EVALSHA (keys bound in a selector), SCRIPT LOAD after NOSCRIPT, and SCRIPT
# EXISTS for scripts queued in a pipeline. No EVAL: nothing sends it.
SCRIPT_ADMIN = ("script|load", "script|exists")
# runrecord.note_failure is a MULTI/EXEC pipeline.
TRANSACTION = ("multi", "exec", "discard")

# The worker's own input: consumer.Worker (XGROUP CREATE MKSTREAM, XREADGROUP), reclaimer.Reclaimer
# (XAUTOCLAIM, XPENDING, XINFO CONSUMERS, XGROUP DELCONSUMER), commit.lua (XACK) and claim_own.lua
# (XPENDING, XCLAIM, XACK), and the lag gauges of observe.Observer.watch_stream (XLEN,
# XINFO GROUPS, XPENDING, XINFO CONSUMERS).
CONSUME = (
    "xreadgroup", "xack", "xclaim", "xautoclaim", "xpending",
    "xgroup|create", "xgroup|delconsumer", "xinfo|consumers", "xinfo|groups", "xlen",
)  # fmt: skip
# Run records: commit.lua (HSET HSETNX RPUSH PEXPIRE HINCRBY), note_failure (HSET EXPIRE),
# Reclaimer.last_error (HGET).
RUN_RECORD = ("hset", "hsetnx", "hget", "hincrby", "rpush", "pexpire", "expire")
# Heartbeats: Reclaimer.beat (SET PX), farewell (DEL), peers' liveness and --check (EXISTS), and
# GET to read one.
HEARTBEAT = ("set", "get", "exists", "del")
# Intake's idempotency marker: SET NX EX inside commit.lua.
DEDUPE = ("set",)
# The per-event budget ledger (guardrails.BudgetLedger: budget.lua reserve/settle, HMGET spent).
BUDGET = ("hget", "hmget", "hexists", "hincrby", "hset", "hdel", "expire")
# The global LLM rate limit (llm_rate.lua; keys from shared.agents.llm.ratelimit.rate_keys), whose
# clock is the server's TIME.
LLM_RATE = ("hgetall", "hdel", "hexists", "hincrby", "hset", "pexpire")
LLM_RATE_KEYS = "llm:rate:*"
# `baton worker NAME --check` looks for this host's heartbeat with SCAN MATCH. SCAN lists key
# names (never values) and is the one keyless read a worker gets; drop it once the check uses
# XINFO CONSUMERS + EXISTS instead.
HEALTHCHECK = ("scan",)

# The operator (CLI): post and replay to any stream, work the operators' inboxes (consumer group
# `operators` on dlq and escalations, fenced with commit.lua), purge those two, annotate runs.
OPERATOR_STREAMS = (
    "xadd", "xack", "xclaim", "xautoclaim", "xreadgroup",
    "xgroup|create", "xgroup|createconsumer", "xgroup|delconsumer",
)  # fmt: skip
OPERATOR_PURGE = ("xdel", "xtrim", "del", "unlink")
OPERATOR_RECORDS = ("hset", "hsetnx", "hdel", "hincrby", "rpush", "expire", "pexpire", "del")

# Never granted to a service user (checked by the tests, and by build_users).
WORKER_FORBIDDEN = frozenset({
    "xtrim", "xdel", "xgroup|destroy", "xgroup|setid", "flushall", "flushdb", "config", "keys",
    "acl", "debug", "shutdown", "monitor", "eval", "@all", "@dangerous", "@admin",
})  # fmt: skip


@dataclass(frozen=True)
class Grant:
    """One ACL selector: these commands, on these keys and no others."""

    purpose: str
    commands: tuple[str, ...]
    read_write: tuple[str, ...] = ()
    write_only: tuple[str, ...] = ()
    read_only: tuple[str, ...] = ()

    def rules(self) -> list[str]:
        keys = [f"~{k}" for k in self.read_write]
        keys += [f"%W~{k}" for k in self.write_only]
        keys += [f"%R~{k}" for k in self.read_only]
        return [*keys, *(_command(c) for c in self.commands)]

    def selector(self) -> str:
        return "(" + " ".join(self.rules()) + ")"


@dataclass(frozen=True)
class AclUser:
    """A Redis user: keyless ``commands`` plus one selector per :class:`Grant`."""

    name: str
    description: str
    commands: tuple[str, ...] = ()
    grants: tuple[Grant, ...] = ()
    sealed: bool = False
    """Every right, behind a password drawn when its line is written and kept nowhere."""
    service: str | None = None

    @property
    def env_prefix(self) -> str:
        """``BATON_<NAME>_REDIS``: the env file holds ``_USERNAME``, ``_PASSWORD`` and ``_URL``."""
        return "BATON_" + re.sub(r"[^A-Z0-9]", "_", self.name.upper()) + "_REDIS"

    @property
    def password_var(self) -> str:
        return f"{self.env_prefix}_PASSWORD"

    @property
    def url_var(self) -> str:
        return f"{self.env_prefix}_URL"

    def rules(self, password_rule: str) -> list[str]:
        """The ACL rules after ``user <name>``."""
        if self.sealed:
            return ["on", "resetpass", password_rule, "~*", "&*", "+@all"]
        rules = ["on", password_rule, "resetkeys", "resetchannels", "-@all"]
        rules += [_command(c) for c in self.commands]
        return rules + [g.selector() for g in self.grants]

    def line(self, password: str | None) -> str:
        """The user's line in the ACL file (the password stored only as its SHA-256).

        A sealed user's password is drawn here and discarded: only its hash is ever written.
        """
        if self.sealed:
            password = generate_password()
        if not password:
            raise ConfigError(f"no password for Redis user {self.name}")
        return " ".join(["user", self.name, *self.rules(f"#{password_hash(password)}")])

    def all_commands(self) -> set[str]:
        found = set(self.commands)
        for grant in self.grants:
            found.update(grant.commands)
        return found


@dataclass(frozen=True)
class AclPlan:
    """Every Baton user for one key prefix, with their passwords (kept out of reprs)."""

    prefix: str
    users: tuple[AclUser, ...]
    passwords: Mapping[str, str] = field(repr=False)

    def acl_file(self) -> str:
        """The ``aclfile`` Redis loads (one ``user`` line each; Redis allows no comments)."""
        return "".join(u.line(self.passwords.get(u.name)) + "\n" for u in self.users)

    def redacted(self) -> list[str]:
        """The ACL lines with the password hashes replaced, for display."""
        return [" ".join(["user", u.name, *u.rules("#<sha256>")]) for u in self.users]

    def env_file(self, host: str = "redis:6379", db: int = 0) -> str:
        """The companion env file: clear credentials and a ``REDIS_URL`` for every user."""
        lines = [
            "# Baton Redis credentials, written by `baton acl`. SECRET: keep it out of version",
            "# control. Used by: docker compose --env-file <this file> up -d",
            "#                   kubectl create secret generic baton-redis --from-env-file=<it>",
            f"# Key prefix: {self.prefix}",
        ]
        for user in self.users:
            if user.sealed:
                continue
            password = self.passwords[user.name]
            url = f"redis://{quote(user.name, safe='')}:{quote(password, safe='')}@{host}/{db}"
            lines += [
                "",
                f"# {user.description}",
                f"{user.env_prefix}_USERNAME={user.name}",
                f"{user.password_var}={password}",
                f"{user.url_var}={url}",
            ]
        return "\n".join(lines) + "\n"


def _command(name: str) -> str:
    return name if name.startswith(("+", "-")) else f"+{name}"


def password_hash(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def generate_password() -> str:
    return secrets.token_hex(PASSWORD_BYTES)


def check_password(user: str, password: str) -> str:
    """A given password must be long enough and free of spaces and control characters."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise ConfigError(f"the password given for {user} is shorter than {MIN_PASSWORD_CHARS}")
    if any(ch.isspace() or not ch.isprintable() for ch in password):
        raise ConfigError(f"the password given for {user} has spaces or control characters")
    return password


def service_user(keys: Keys, pipeline: Pipeline, service: str) -> AclUser:
    """The user ``service`` runs as: its input stream and group, its outputs, its own keys."""
    source = keys.stream(pipeline.input_stream(service))
    publishes = pipeline.publishes(service)
    targets = (*(keys.stream(name) for name in publishes), keys.dlq)
    runs = keys.run("*")
    script_keys: list[str] = [source, *targets, runs]
    grants = [
        Grant("consume its input stream as its group", CONSUME, read_write=(source,)),
        Grant("publish its outputs and dead letters", ("xadd",), write_only=targets),
        Grant("update run records", RUN_RECORD, read_write=(runs,)),
        Grant("its own heartbeats", HEARTBEAT, read_write=(keys.heartbeat_pattern(service),)),
    ]
    commands: tuple[str, ...] = CONNECTION + SCRIPT_ADMIN + TRANSACTION + HEALTHCHECK
    entry = service == pipeline.entry.name
    if entry:
        grants.append(Grant("idempotency markers", DEDUPE, read_write=(keys.seen("*"),)))
        script_keys.append(keys.seen("*"))
    budget = keys.budget("*")
    if pipeline.is_agent(service):
        rate = f"{keys.prefix}:{LLM_RATE_KEYS}"
        grants.append(Grant("per-event budget ledger", BUDGET, read_write=(budget,)))
        grants.append(Grant("global LLM rate limit", LLM_RATE, read_write=(rate,)))
        script_keys += [budget, rate]
        commands += ("time",)
    else:  # the validator reports what an event spent
        grants.append(Grant("read budget ledgers", ("hmget",), read_only=(budget,)))
    grants.append(Grant("run the service's scripts", ("evalsha",), read_write=tuple(script_keys)))
    outputs = ", ".join(publishes)
    return AclUser(
        name=service,
        description=(
            f"service {service}: reads {source} as group {service}; writes {outputs} and dlq "
            "(write-only); run records, budget ledgers, its heartbeats"
            + (", idempotency markers" if entry else "")
            + (", LLM rate limits" if pipeline.is_agent(service) else "")
        ),
        commands=commands,
        grants=tuple(grants),
        service=service,
    )


def operator_user(keys: Keys, pipeline: Pipeline) -> AclUser:
    """The CLI's user: reads everything under the prefix, posts, replays and purges."""
    everything = f"{keys.prefix}:*"
    streams = tuple(keys.stream(name) for name in pipeline.streams())
    return AclUser(
        name="operator",
        description=(
            "operator (baton CLI): reads every key under the prefix, posts and replays to any "
            "stream, purges dlq and escalations; no FLUSH, CONFIG, KEYS, ACL changes or XGROUP "
            "DESTROY"
        ),
        # INFO and ACL GETUSER: `baton status` and `baton acl --check` tell a configuration that
        # loses data on restart (shared.ops.durability) from a safe one.
        commands=CONNECTION + SCRIPT_ADMIN + TRANSACTION + ("scan", "info", "acl|getuser"),
        grants=(
            Grant(
                "read everything under the prefix",
                ("@read", "-@dangerous"),
                read_only=(everything,),
            ),
            Grant("post, replay and consume", OPERATOR_STREAMS, read_write=streams),
            Grant(
                "purge dead letters and resolved escalations",
                OPERATOR_PURGE,
                read_write=(keys.dlq, keys.escalations),
            ),
            Grant("annotate run records", OPERATOR_RECORDS, read_write=(keys.run("*"),)),
            Grant("record console changes", ("xadd",), write_only=(keys.audit,)),
            Grant("run scripts", ("evalsha",), read_write=(everything,)),
        ),
    )


def viewer_user(keys: Keys) -> AclUser:
    """The console's read-only user, for viewers: reads everything under the prefix (streams,
    groups, run records, heartbeats) and changes nothing."""
    return AclUser(
        name="viewer",
        description="viewer (baton console, read-only): reads every key under the prefix; "
        "writes nothing",
        commands=(*CONNECTION, "scan"),
        grants=(
            Grant(
                "read everything under the prefix",
                ("@read", "-@dangerous"),
                read_only=(f"{keys.prefix}:*",),
            ),
        ),
    )


def producer_user(keys: Keys, pipeline: Pipeline) -> AclUser:
    """For systems that submit events (``baton post --wait``): XADD to the entry agent's stream,
    read outcomes."""
    entry = keys.stream(pipeline.input_stream(pipeline.entry.name))
    return AclUser(
        name="producer",
        description=(f"producer: writes {entry} only; reads responses, escalations, run statuses"),
        commands=CONNECTION,
        grants=(
            Grant("submit events", ("xadd",), write_only=(entry,)),
            Grant(
                "read outcomes",
                ("xread", "xrange", "xrevrange", "xlen"),
                read_only=(keys.responses, keys.escalations),
            ),
            Grant("read run statuses", ("hget",), read_only=(keys.run("*"),)),
        ),
    )


def keda_user(keys: Keys, pipeline: Pipeline) -> AclUser:
    """KEDA's redis-streams scaler in lag mode: INFO (version), XINFO GROUPS and XLEN."""
    inputs = tuple(keys.stream(pipeline.input_stream(s)) for s in pipeline.services)
    return AclUser(
        name="keda",
        description="keda (autoscaler): consumer-group lag of the input streams, read-only",
        commands=(*CONNECTION, "info"),
        grants=(Grant("consumer-group lag", ("xinfo|groups", "xlen"), read_only=inputs),),
    )


def build_users(
    pipeline: Pipeline,
    prefix: str = "baton",
    redis_version: tuple[int, int] = DEFAULT_REDIS_VERSION,
) -> tuple[AclUser, ...]:
    """``default`` (sealed), one user per service, ``operator``, ``viewer``, ``producer`` and
    ``keda``.

    ``redis_version`` is the server's (major, minor): an ACL file naming a command the server does
    not know is refused as a whole, so CLIENT SETINFO is granted from 7.2 on only.
    """
    if not PREFIX_PATTERN.match(prefix):
        raise ConfigError(f"invalid key prefix {prefix!r}: use 1-64 of A-Z a-z 0-9 _ . -")
    if redis_version < (7, 0):
        raise ConfigError("Redis 7.0 or later is needed (ACL selectors and %R~/%W~ key rules)")
    keys = Keys(prefix)
    users = (
        AclUser(
            "default",
            "default user: all rights behind a discarded random password (no one can log in as "
            "it; on, so that Redis can replay its append-only file)",
            sealed=True,
        ),
        *(service_user(keys, pipeline, s) for s in pipeline.services),
        operator_user(keys, pipeline),
        viewer_user(keys),
        producer_user(keys, pipeline),
        keda_user(keys, pipeline),
    )
    if redis_version >= SETINFO_SINCE:
        users = tuple(
            u if u.sealed else dataclasses.replace(u, commands=(*u.commands, "client|setinfo"))
            for u in users
        )
    for user in users:
        if user.service and user.all_commands() & WORKER_FORBIDDEN:
            raise AssertionError(f"{user.name} would get {user.all_commands() & WORKER_FORBIDDEN}")
    return users


def parse_env(text: str) -> dict[str, str]:
    """``KEY=VALUE`` lines (comments and blanks skipped), as compose and kubectl read them."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip()] = value.strip()
    return values


def plan(
    pipeline: Pipeline,
    prefix: str = "baton",
    *,
    given: Mapping[str, str] | None = None,
    existing: Mapping[str, str] | None = None,
    rotate: bool = False,
    redis_version: tuple[int, int] = DEFAULT_REDIS_VERSION,
) -> AclPlan:
    """Users for ``prefix`` with their passwords.

    A password comes from ``given`` (``BATON_<USER>_REDIS_PASSWORD``, e.g. the environment), else
    from ``existing`` (a previous env file, so regenerating keeps running services connected)
    unless ``rotate``, else it is generated.
    """
    users = build_users(pipeline, prefix, redis_version)
    given = given or {}
    existing = {} if rotate else (existing or {})
    passwords: dict[str, str] = {}
    for user in users:
        if user.sealed:
            continue
        if given.get(user.password_var):
            passwords[user.name] = check_password(user.name, given[user.password_var])
        elif existing.get(user.password_var):
            passwords[user.name] = check_password(user.name, existing[user.password_var])
        else:
            passwords[user.name] = generate_password()
    return AclPlan(prefix, users, passwords)
