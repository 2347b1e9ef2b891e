"""``baton acl``: write the Redis ACL file (one user per service) and its credentials env file."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from services.pipeline import PIPELINE
from shared.errors import BatonError
from shared.ops import acl as aclmod
from shared.ops import durability
from shared.ops.cli import common

DEFAULT_OUT = Path("deploy/redis/users.acl")
ENV_FILE_NAME = "credentials.env"


def register(app: typer.Typer) -> None:
    app.command("acl")(acl)


def acl(
    out: Annotated[Path, typer.Option("--out", help="the ACL file Redis loads")] = DEFAULT_OUT,
    env_file: Annotated[
        Path | None,
        typer.Option("--env-file", help=f"clear credentials (default: {ENV_FILE_NAME} next to it)"),
    ] = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="key prefix (default: BATON_PREFIX or baton)")
    ] = None,
    host: Annotated[
        str, typer.Option("--host", help="host:port written in the credentials' REDIS_URLs")
    ] = "redis:6379",
    redis_version: Annotated[
        str, typer.Option("--redis-version", help="server version the file is for (major.minor)")
    ] = "{}.{}".format(*aclmod.DEFAULT_REDIS_VERSION),
    rotate: Annotated[
        bool, typer.Option("--rotate", help="new passwords even where the env file has some")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="show the users; write nothing")
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="check the running Redis (REDIS_URL) for data loss on restart instead"
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Least-privilege Redis users: one per service, operator, producer, keda.

    Passwords come from BATON_<USER>_REDIS_PASSWORD when set, else from an existing env file
    (unless --rotate), else they are generated. The ACL file stores only their SHA-256; the env
    file (mode 0600) holds them in clear for `docker compose --env-file` and Kubernetes secrets.
    Secrets are never printed. The default user stays on (Redis before 8.4 needs it to replay
    its AOF) behind a random password that is hashed and never kept.
    """
    if check:
        _check_server(as_json)
        return
    env_path = env_file or out.parent / ENV_FILE_NAME
    version = _version(redis_version)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+(:\d{1,5})?", host):
        raise typer.BadParameter("expected host or host:port", param_hint="--host")
    prefix = prefix or os.environ.get("BATON_PREFIX") or "baton"
    if not aclmod.PREFIX_PATTERN.match(prefix):
        raise typer.BadParameter("use 1-64 of A-Z a-z 0-9 _ . -", param_hint="--prefix")
    existing = _read_env(env_path)
    _warn_if_unsafe(out)
    plan = aclmod.plan(
        PIPELINE,
        prefix,
        given=os.environ,
        existing=existing,
        rotate=rotate,
        redis_version=version,
    )
    if not dry_run:
        _write(out, plan.acl_file(), mode=0o644)  # hashes only; the Redis container must read it
        _write(env_path, plan.env_file(host), mode=0o600)
    if as_json:
        typer.echo(orjson.dumps(_summary(plan, out, env_path, dry_run), option=orjson.OPT_INDENT_2))
        return
    _print_plan(plan, out, env_path, dry_run, reused=bool(existing) and not rotate)


def _warn_if_unsafe(out: Path) -> None:
    """Say loudly when the file about to be replaced turns the default user off."""
    try:
        text = out.read_text()
    except OSError:
        return
    if durability.acl_file_disables_default(text):
        typer.secho(
            f"WARNING: {out} turns the default user off. With AOF on, Redis before 8.4 drops "
            "every script write (every Baton commit) since the last AOF rewrite when it restarts "
            "(redis/redis#14541). The new file keeps the default user on behind an unknowable "
            "password: load it now (ACL LOAD, or restart Redis with it).",
            err=True,
            fg=typer.colors.RED,
            bold=True,
        )


def _check_server(as_json: bool) -> None:
    """Exit 1 when the server at REDIS_URL would lose commits on restart."""
    config = common.settings()

    async def facts() -> durability.ServerFacts:
        redis = common.client(config)
        try:
            return await durability.server_facts(redis)
        finally:
            await redis.aclose()

    found = common.run(facts())
    warning = durability.hazard(found)
    if as_json:
        common.print_json({**dataclasses.asdict(found), "hazard": warning})
    else:
        version = ".".join(map(str, found.version))
        unknown = "unknown (ACL GETUSER refused)"
        default = unknown if found.default_user_off is None else (
            "off" if found.default_user_off else "on"
        )  # fmt: skip
        typer.echo(f"{found.server} {version}, AOF {'on' if found.aof else 'off'}, "
                   f"default user {default}")  # fmt: skip
        if warning:
            typer.secho(warning, err=True, fg=typer.colors.RED, bold=True)
        elif found.default_user_off is None:
            typer.echo("cannot tell: connect as a user allowed ACL GETUSER (the operator is)")
        else:
            typer.echo("ok: script commits survive a restart")
    if warning:
        raise typer.Exit(1)


def _version(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)\.(\d+)(\.\d+)?", text.strip())
    if not match:
        raise typer.BadParameter("expected major.minor, e.g. 7.2", param_hint="--redis-version")
    return int(match[1]), int(match[2])


def _read_env(path: Path) -> dict[str, str]:
    try:
        return aclmod.parse_env(path.read_text())
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise BatonError(f"cannot read {path}: {exc.strerror}") from exc


def _write(path: Path, text: str, *, mode: int) -> None:
    """Write atomically, with ``mode`` from the start (a secret is never world-readable)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise BatonError(f"cannot write {path}: {exc.strerror}") from exc


def _summary(plan: aclmod.AclPlan, out: Path, env_path: Path, dry_run: bool) -> dict[str, Any]:
    return {
        "prefix": plan.prefix,
        "acl_file": str(out),
        "env_file": str(env_path),
        "written": not dry_run,
        "users": [
            {
                "name": user.name,
                "sealed": user.sealed,
                "description": user.description,
                "rules": line.split(" ", 2)[2],
                "env": {} if user.sealed else {"password": user.password_var, "url": user.url_var},
            }
            for user, line in zip(plan.users, plan.redacted(), strict=True)
        ],
    }


def _print_plan(
    plan: aclmod.AclPlan, out: Path, env_path: Path, dry_run: bool, reused: bool
) -> None:
    for user in plan.users:
        typer.echo(f"  {user.name:<10} {user.description}")
    if dry_run:
        typer.echo(f"\n{out} would contain (password hashes elided):")
        for line in plan.redacted():
            typer.echo(f"  {line}")
        typer.echo("\ndry run: nothing written")
        return
    passwords = "kept from the existing env file" if reused else "generated or given"
    typer.echo(f"\nwrote {out} (SHA-256 password hashes; default user sealed: unknowable password)")
    typer.echo(f"wrote {env_path} (mode 0600, passwords {passwords}; keep it out of git)")
    typer.echo(f"next: docker compose --env-file {env_path} up -d")
