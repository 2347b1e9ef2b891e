"""`baton acl` and shared.ops.acl: the files it writes, and the rules it gives each user."""

from __future__ import annotations

import fnmatch
import re
import stat
from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

from services.pipeline import PIPELINE
from shared.agents.llm.ratelimit import rate_keys
from shared.errors import ConfigError
from shared.ops import acl
from shared.ops.cli import acl as acl_cli
from shared.ops.cli.app import COMMAND_MODULES
from shared.ops.durability import acl_file_disables_default
from shared.pipeline.keys import Keys

ALL_USERS = ["default", *PIPELINE.services, "operator", "viewer", "producer", "keda"]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    for name in ("BATON_PREFIX", *(f"BATON_{u.upper()}_REDIS_PASSWORD" for u in ALL_USERS)):
        monkeypatch.delenv(name, raising=False)
    app = typer.Typer()
    acl_cli.register(app)
    app.command("noop", hidden=True)(lambda: None)  # keep `acl` a subcommand
    return app


def invoke(app: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["acl", *args])
    return result.exit_code, result.output


def test_acl_is_a_baton_command() -> None:
    assert "acl" in COMMAND_MODULES


def test_writes_hashes_and_a_private_env_file(run: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "redis" / "users.acl"
    code, output = invoke(run, "--out", str(out))
    assert code == 0, output
    env_file = out.parent / "credentials.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    values = acl.parse_env(env_file.read_text())
    text = out.read_text()
    lines = text.splitlines()
    assert [line.split()[1] for line in lines] == ALL_USERS
    # The default user keeps every right (Redis < 8.4 replays the AOF as it) behind a password
    # whose hash is in the file and whose clear text is nowhere.
    assert re.fullmatch(r"user default on resetpass #[0-9a-f]{64} ~\* &\* \+@all", lines[0])
    assert not any(k.startswith("BATON_DEFAULT_") for k in values)
    for user in acl.build_users(PIPELINE):
        if user.sealed:
            continue
        password = values[user.password_var]
        assert re.fullmatch(r"[0-9a-f]{64}", password)  # secrets.token_hex(32)
        assert f"#{acl.password_hash(password)}" in text
        assert password not in text
        assert password not in output
        assert values[f"{user.env_prefix}_USERNAME"] == user.name
        assert values[user.url_var] == f"redis://{user.name}:{password}@redis:6379/0"
    assert all(w.startswith("user ") for w in lines)  # Redis refuses comments in an ACL file


def test_replacing_a_file_that_turns_the_default_user_off_warns_loudly(
    run: typer.Typer, tmp_path: Path
) -> None:
    out = tmp_path / "users.acl"
    code, output = invoke(run, "--out", str(out))
    assert (code, "WARNING" in output) == (0, False)
    out.write_text("user default off resetpass -@all\n" + out.read_text().split("\n", 1)[1])
    code, output = invoke(run, "--out", str(out))
    assert code == 0
    assert f"WARNING: {out} turns the default user off" in output
    assert "redis/redis#14541" in output
    assert not acl_file_disables_default(out.read_text())


@pytest.mark.parametrize(
    ("line", "off"),
    [
        ("user default off resetpass -@all", True),
        ("user default on nopass ~* +@all off", True),
        ("user default off on #ab ~* +@all", False),
        ("user default on #ab ~* &* +@all", False),
        ("user other off", False),
    ],
)
def test_the_last_on_or_off_of_the_default_users_line_decides(line: str, off: bool) -> None:
    assert acl_file_disables_default(f"user x on nopass\n{line}\n") is off


def test_rerunning_keeps_passwords_unless_rotated(run: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "users.acl"
    env_file = tmp_path / "secrets" / "baton.env"
    assert invoke(run, "--out", str(out), "--env-file", str(env_file))[0] == 0
    first = acl.parse_env(env_file.read_text())
    assert invoke(run, "--out", str(out), "--env-file", str(env_file))[0] == 0
    assert acl.parse_env(env_file.read_text()) == first
    assert invoke(run, "--out", str(out), "--env-file", str(env_file), "--rotate")[0] == 0
    rotated = acl.parse_env(env_file.read_text())
    assert rotated["BATON_INTAKE_REDIS_PASSWORD"] != first["BATON_INTAKE_REDIS_PASSWORD"]


def test_given_passwords_are_used_and_checked(
    run: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "users.acl"
    monkeypatch.setenv("BATON_TRIAGE_REDIS_PASSWORD", "a-given-password-of-enough-length")
    code, output = invoke(run, "--out", str(out), "--host", "redis.internal:6380")
    assert code == 0, output
    values = acl.parse_env((tmp_path / "credentials.env").read_text())
    assert values["BATON_TRIAGE_REDIS_PASSWORD"] == "a-given-password-of-enough-length"
    assert values["BATON_TRIAGE_REDIS_URL"].endswith("@redis.internal:6380/0")
    assert "a-given-password" not in output
    monkeypatch.setenv("BATON_TRIAGE_REDIS_PASSWORD", "short")
    assert invoke(run, "--out", str(out))[0] != 0


def test_dry_run_and_json_write_nothing_and_print_no_secret(
    run: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATON_OPERATOR_REDIS_PASSWORD", "operator-password-never-printed")
    out = tmp_path / "users.acl"
    code, output = invoke(run, "--out", str(out), "--dry-run", "--prefix", "acme")
    assert code == 0
    assert not out.exists()
    assert not (tmp_path / "credentials.env").exists()
    assert "operator-password" not in output
    assert acl.password_hash("operator-password-never-printed") not in output
    assert "~acme:intake" in output
    assert "dry run" in output
    code, output = invoke(run, "--out", str(out), "--dry-run", "--json")
    summary = orjson.loads(output)
    assert summary["written"] is False
    assert [u["name"] for u in summary["users"]] == ALL_USERS
    assert "operator-password" not in output


def test_bad_arguments_are_usage_errors(run: typer.Typer, tmp_path: Path) -> None:
    out = str(tmp_path / "users.acl")
    assert invoke(run, "--out", out, "--prefix", "a*b")[0] == 2
    assert invoke(run, "--out", out, "--redis-version", "seven")[0] == 2
    assert invoke(run, "--out", out, "--host", "redis:6379/../x")[0] == 2


def test_service_users_never_get_forbidden_commands_or_foreign_keys() -> None:
    users = {u.name: u for u in acl.build_users(PIPELINE, "acme")}
    for service in PIPELINE.services:
        user = users[service]
        assert not user.all_commands() & acl.WORKER_FORBIDDEN
        for grant in user.grants:
            for pattern in (*grant.read_write, *grant.write_only, *grant.read_only):
                assert pattern.startswith("acme:"), (service, pattern)
            # the dead letters: write-only, except as a key named to EVALSHA (whose calls
            # inside the script are checked one by one)
            if "acme:dlq" in grant.read_write + grant.read_only:
                assert grant.commands == ("evalsha",)


def test_rate_limit_and_budget_patterns_cover_their_keys() -> None:
    keys = Keys("acme")
    triage = {g.purpose: g for g in acl.service_user(keys, PIPELINE, "triage").grants}
    (rate,) = triage["global LLM rate limit"].read_write
    for key in rate_keys("acme", "gpt-4o-mini"):
        assert fnmatch.fnmatchcase(key, rate)
    (budget,) = triage["per-event budget ledger"].read_write
    assert fnmatch.fnmatchcase(keys.budget("evt-1"), budget)
    assert {s for s in PIPELINE.services if any("rate" in g.purpose for g in
            acl.service_user(keys, PIPELINE, s).grants)} == set(PIPELINE.agent_names)  # fmt: skip


def test_client_setinfo_only_for_servers_that_know_it() -> None:
    def commands(version: tuple[int, int]) -> set[str]:
        return acl.build_users(PIPELINE, "baton", version)[1].all_commands()

    assert "client|setinfo" in commands((7, 2))
    assert "client|setinfo" not in commands((7, 0))
    with pytest.raises(ConfigError):
        acl.build_users(PIPELINE, "baton", (6, 2))


def test_plan_repr_hides_passwords() -> None:
    acl_plan = acl.plan(PIPELINE, "baton")
    assert not any(p in repr(acl_plan) for p in acl_plan.passwords.values())
