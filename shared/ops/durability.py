"""The one Redis configuration known to lose acknowledged events on restart, and how to spot it.

Redis writes the effects of a script to its append-only file wrapped in MULTI/EXEC. While loading
that file at start-up, Redis before 8.4 re-checks each EXEC against the *default* user's ACL
(redis/redis#14541, fixed by #14545 in 8.4 and not backported further; Valkey#3983). With the
default user off, every such transaction is refused (``-NOPERM ACLs rules changed between the moment
the transaction was accumulated and the EXEC call`` in the log) and skipped. Every Baton commit is a
script, so every commit since the last AOF rewrite is lost while plain commands survive.

``baton acl`` therefore keeps the default user on, behind a password nobody knows; this module lets
``baton acl`` and ``baton status`` warn when they see the unsafe shape anyway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoPermissionError, ResponseError

FIXED_IN = (8, 4, 0)
"""The first Redis release whose AOF loading does not re-check a replayed EXEC's ACL."""

_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class ServerFacts:
    """What decides whether a server replays script commits: which server, AOF, default user."""

    server: str
    """``redis`` or ``valkey``."""
    version: tuple[int, int, int]
    aof: bool
    default_user_off: bool | None
    """``None`` when the client may not read it (ACL GETUSER refused)."""


def parse_version(text: str) -> tuple[int, int, int]:
    match = _VERSION.match(text.strip())
    if not match:
        raise ValueError(f"not a server version: {text!r}")
    return int(match[1]), int(match[2]), int(match[3] or 0)


def replays_scripts_under_acl(server: str, version: tuple[int, int, int]) -> bool:
    """True when this server's AOF loading refuses script transactions the default user can't run.

    Valkey is counted as affected: no release is known to carry a fix.
    """
    return server == "valkey" or version < FIXED_IN


def hazard(facts: ServerFacts) -> str | None:
    """A warning when ``facts`` describe a server that will drop commits on restart, else None."""
    if not facts.aof or not facts.default_user_off:
        return None
    if not replays_scripts_under_acl(facts.server, facts.version):
        return None
    version = ".".join(map(str, facts.version))
    return (
        f"DATA LOSS ON RESTART: {facts.server} {version} has AOF on and the default user off. "
        "Loading the AOF refuses every script transaction (redis/redis#14541), so every Baton "
        "commit since the last AOF rewrite is lost when Redis restarts. Write a new users file "
        "with `baton acl` (default user on behind an unknowable password) and ACL LOAD it, or "
        f"run Redis {'.'.join(map(str, FIXED_IN[:2]))} or later."
    )


def acl_file_disables_default(text: str) -> bool:
    """True when an ACL file's ``user default`` line leaves the user off (the last flag wins)."""
    for line in text.splitlines():
        words = line.split()
        if words[:2] == ["user", "default"]:
            flags = [w for w in words[2:] if w in ("on", "off")]
            return bool(flags) and flags[-1] == "off"
    return False


async def server_facts(redis: Redis) -> ServerFacts:
    """Read the facts from a live server (needs INFO; ACL GETUSER for the default user's state)."""
    info: dict[str, Any] = await redis.info("server")
    persistence: dict[str, Any] = await redis.info("persistence")
    name = str(info.get("server_name", "redis")).lower()
    version = parse_version(str(info.get("valkey_version") or info["redis_version"]))
    default_off: bool | None
    try:
        user = await redis.acl_getuser("default")
    except (NoPermissionError, ResponseError):
        default_off = None
    else:
        flags = user.get("flags", []) if user else []
        default_off = isinstance(flags, list) and "off" in flags
    return ServerFacts(
        server="valkey" if "valkey" in name else "redis",
        version=version,
        aof=bool(int(persistence.get("aof_enabled", 0))),
        default_user_off=default_off,
    )
