"""``baton acl``: write the Redis ACL file (one user per service) and its credentials env file."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from shared import acl as aclmod
from shared.errors import BatonError

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
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Least-privilege Redis users: one per service, operator, producer, keda; default off.

    Passwords come from BATON_<USER>_REDIS_PASSWORD when set, else from an existing env file
    (unless --rotate), else they are generated. The ACL file stores only their SHA-256; the env
    file (mode 0600) holds them in clear for `docker compose --env-file` and Kubernetes secrets.
    Secrets are never printed.
    """
    env_path = env_file or out.parent / ENV_FILE_NAME
    version = _version(redis_version)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+(:\d{1,5})?", host):
        raise typer.BadParameter("expected host or host:port", param_hint="--host")
    prefix = prefix or os.environ.get("BATON_PREFIX") or "baton"
    if not aclmod.PREFIX_PATTERN.match(prefix):
        raise typer.BadParameter("use 1-64 of A-Z a-z 0-9 _ . -", param_hint="--prefix")
    existing = _read_env(env_path)
    plan = aclmod.plan(
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
                "enabled": user.enabled,
                "description": user.description,
                "rules": line.split(" ", 2)[2],
                "env": {"password": user.password_var, "url": user.url_var} if user.enabled else {},
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
    typer.echo(f"\nwrote {out} (SHA-256 password hashes; default user off)")
    typer.echo(f"wrote {env_path} (mode 0600, passwords {passwords}; keep it out of git)")
    typer.echo(f"next: docker compose --env-file {env_path} up -d")
