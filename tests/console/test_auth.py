"""The console asks for a login, keeps viewers to reading, and refuses cross-site forms."""

from __future__ import annotations

import pytest

from shared.errors import ConfigError
from shared.ops.console.settings import ConsoleSettings
from shared.ops.embedded import EmbeddedRedis
from tests.console.harness import TOKENS, client, console, csrf_of, login


async def test_pages_need_a_login(redis_server: EmbeddedRedis, prefix: str) -> None:
    async with console(redis_server.url, prefix) as app, client(app) as http:
        for page in ("/escalations", "/dlq", "/runs/x", "/live", "/audit"):
            reply = await http.get(page)
            assert (reply.status_code, reply.headers["location"]) == (303, "/login")
        assert (await http.get("/live.json")).status_code == 401


async def test_an_unknown_token_is_refused(redis_server: EmbeddedRedis, prefix: str) -> None:
    async with console(redis_server.url, prefix) as app, client(app) as http:
        reply = await login(http, "not-a-token-of-anyone")
        assert reply.status_code == 401
        assert "Unknown token" in reply.text
        assert (await http.get("/escalations")).status_code == 303


async def test_a_login_form_from_another_site_is_refused(
    redis_server: EmbeddedRedis, prefix: str
) -> None:
    async with console(redis_server.url, prefix) as app, client(app) as http:
        reply = await http.post("/login", data={"csrf": "forged", "token": TOKENS["alice"]})
        assert reply.status_code == 403
        assert "baton_session" not in reply.cookies


async def test_a_viewer_reads_but_cannot_change_anything(
    redis_server: EmbeddedRedis, prefix: str
) -> None:
    async with console(redis_server.url, prefix) as app, client(app, "vera") as http:
        page = await http.get("/dlq")
        assert page.status_code == 200
        assert "vera (viewer)" in page.text
        assert "Replay" not in page.text  # no change buttons for viewers
        csrf = csrf_of(page.text)
        for action in ("/dlq/replay", "/dlq/purge", "/escalations/1-0/resolve"):
            reply = await http.post(action, data={"csrf": csrf, "ids": "1-0", "action": "reply"})
            assert reply.status_code == 403, action
            assert "only operators can change things" in reply.text


async def test_a_change_without_the_forms_token_is_refused(
    redis_server: EmbeddedRedis, prefix: str
) -> None:
    async with console(redis_server.url, prefix) as app:
        async with client(app, "bob") as other:
            stolen = csrf_of((await other.get("/dlq")).text)
        async with client(app, "alice") as http:
            for data in ({}, {"csrf": "guess"}, {"csrf": stolen}):
                reply = await http.post("/dlq/purge", data={**data, "ids": "1-0"})
                assert reply.status_code == 403
                assert "security token" in reply.text


async def test_every_page_forbids_inline_script_and_framing(
    redis_server: EmbeddedRedis, prefix: str
) -> None:
    async with console(redis_server.url, prefix) as app, client(app, "alice") as http:
        reply = await http.get("/escalations")
        policy = reply.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert reply.headers["x-content-type-options"] == "nosniff"
        cookie = next(h for h in http.cookies.jar if h.name == "baton_session")
        assert cookie.has_nonstandard_attr("HttpOnly")


def test_weak_or_shared_tokens_are_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="shorter than"):
        ConsoleSettings(token="short")  # type: ignore[arg-type]
    users = {"a": {"token": "x" * 20, "role": "viewer"}, "b": {"token": "x" * 20}}
    with pytest.raises(ConfigError, match="share a token"):
        ConsoleSettings(users=users)  # type: ignore[arg-type]


def test_without_users_a_one_off_operator_token_is_made() -> None:
    settings, token = ConsoleSettings().with_generated_token()
    assert token is not None
    assert settings.all_users()["admin"].role == "operator"
    assert settings.host == "127.0.0.1"


async def test_logging_out_needs_the_forms_token_and_ends_the_session(
    redis_server: EmbeddedRedis, prefix: str
) -> None:
    async with console(redis_server.url, prefix) as app, client(app, "alice") as http:
        assert (await http.post("/logout", data={"csrf": "forged"})).status_code == 403
        csrf = csrf_of((await http.get("/escalations")).text)
        reply = await http.post("/logout", data={"csrf": csrf})
        assert (reply.status_code, reply.headers["location"]) == (303, "/login")
        assert (await http.get("/escalations")).status_code == 303
