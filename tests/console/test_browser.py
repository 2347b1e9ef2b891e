"""A real browser (Debian's Chromium, driven by Playwright) works the console against the real
pipeline on a throwaway Redis with the users file of ``baton acl``: the console runs as
``baton console``, as the operator and viewer Redis users. It resolves an escalation, edits and
replays a dead letter, watches the live view, and the auditor then finds exactly one response
for each. Screenshots of each page go to ``$BATON_CONSOLE_SCREENSHOTS`` (docs/console for the
README) or the test's temporary folder.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from services.pipeline import PIPELINE
from shared.ops.embedded import free_port
from shared.runtime.delivery import as_text
from tests.audit import audit, read_stream
from tests.console.harness import TOKENS
from tests.fault.processes import REPO_ROOT, worker_env
from tests.helpers import InProcessPipeline, wait_for
from tests.integration.test_acl import AclServer

pytestmark = pytest.mark.browser

HOSTILE = "<img src=x onerror=alert('xss')><script>alert(1)</script>"
FIXED = {"text": "My invoice is wrong", "customer_id": "c-9", "channel": "email"}


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs it (deploy/ci-packages.txt)")
        pytest.skip("no Chromium here: apt-get install chromium")
    return found


def url_of(acl: AclServer, user: str) -> str:
    password = quote(acl.plan.passwords[user], safe="")
    return f"redis://{user}:{password}@127.0.0.1:{acl.server.port}/0"


@pytest.fixture
def console_process(acl: AclServer, tmp_path: Path) -> Iterator[str]:
    """``baton console`` as the operator and viewer users; its base URL."""
    port = free_port()
    users = {"alice": {"token": TOKENS["alice"], "role": "operator"},
             "vera": {"token": TOKENS["vera"], "role": "viewer"}}  # fmt: skip
    env = worker_env(url_of(acl, "operator"), acl.keys.prefix, {
        "BATON_OPERATOR_REDIS_URL": url_of(acl, "operator"),
        "BATON_VIEWER_REDIS_URL": url_of(acl, "viewer"),
        "BATON_CONSOLE_USERS": orjson.dumps(users).decode(),
        "BATON_CONSOLE_PORT": str(port),
        "BATON_CONSOLE_JAEGER_URL": "http://127.0.0.1:16686",
    })  # fmt: skip
    log = (tmp_path / "console.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "shared.ops.cli.app", "console"],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_listening(port, process, tmp_path / "console.log")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(200):
        if process.poll() is not None:
            raise AssertionError(f"baton console exited: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)  # polls the condition above
    raise AssertionError(f"baton console did not listen: {log.read_text()}")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        yield launched
        await launched.close()


def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("BATON_CONSOLE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def logged_in(browser: Browser, base: str, user: str, dialogs: list[str]) -> Page:
    """A page logged in as ``user``; any dialog a script opens is noted in ``dialogs``."""
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    page.set_default_timeout(15_000)
    await page.goto(f"{base}/escalations")
    await page.fill("input[name=token]", TOKENS[user])
    await page.click("button:has-text('Log in')")
    await expect(page.locator("header .who span")).to_contain_text(user)
    return page


async def test_a_browser_resolves_replays_and_watches_the_live_pipeline(
    acl: AclServer, console_process: str, browser: Browser, tmp_path: Path
) -> None:
    k, base, folder = acl.keys, console_process, shots(tmp_path)
    producer, operator = acl.client("producer"), acl.client("operator")
    per_service = {s: acl.credentials(s) for s in PIPELINE.services}
    posted = ["b-esc", "b-hostile", "b-ok"]
    async with InProcessPipeline(acl.server.url, k.prefix, per_service=per_service):
        requests: list[Any] = [
            {"text": "I want to speak to a real person about my bill", "event_id": "b-esc"},
            {"text": f"I want to speak to a real person. {HOSTILE}", "event_id": "b-hostile"},
            {"text": "My invoice is wrong, I was charged twice", "event_id": "b-ok"},
        ]
        for request in requests:
            await producer.xadd(k.stream("intake"), {"payload": orjson.dumps(request)})
        await producer.xadd(k.stream("intake"), {"payload": b'{"text": "cut off'})

        async def ended() -> bool:
            return bool(await operator.xlen(k.escalations) == 2 and await operator.xlen(k.dlq))

        await wait_for(ended)
        (dead,) = await read_stream(operator, k.dlq)
        dead_event = as_text(dead["event_id"])
        posted.append(dead_event)

        dialogs: list[str] = []
        page = await logged_in(browser, base, "alice", dialogs)
        await page.screenshot(path=folder / "escalations.png", full_page=True)
        await page.click("a:has-text('b-hostile')")
        await expect(page.locator("#request-text")).to_contain_text(HOSTILE)  # text, not markup
        await page.goto(f"{base}/escalations")
        await page.click("a:has-text('b-esc')")
        await page.screenshot(path=folder / "escalation.png", full_page=True)
        await page.fill("#reply", "A colleague will call you today.")
        await page.click("button:has-text('Send this reply')")
        await expect(page.locator(".notice")).to_contain_text("Resolved b-esc")

        await page.goto(f"{base}/dlq")
        await page.screenshot(path=folder / "deadletters.png", full_page=True)
        await page.click(f"a:has-text('{as_text(dead['_id'])}')")
        await page.fill("#text", orjson.dumps(FIXED, option=orjson.OPT_INDENT_2).decode())
        await page.click("button:has-text('Preview (dry run)')")
        await expect(page.locator(".notice")).to_contain_text("Valid: a replay would publish")
        await page.screenshot(path=folder / "deadletter.png", full_page=True)
        await page.click("button:has-text('Replay')")
        await expect(page.locator(".notice")).to_contain_text(f"replayed {dead_event}")

        async def answered() -> bool:
            return bool(await operator.xlen(k.responses) == 3)

        await wait_for(answered)
        await page.goto(f"{base}/runs/{dead_event}")
        await expect(page.locator("table.timeline")).to_contain_text("replayed")
        await expect(page.locator("a:has-text('in Jaeger')")).to_have_count(1)
        await page.screenshot(path=folder / "run.png", full_page=True)

        await page.goto(f"{base}/live")
        first = await page.inner_text("#live-at")
        await expect(page.locator("#live-at")).not_to_have_text(first, timeout=10_000)
        await expect(page.locator("#streams")).to_contain_text("operators")
        assert float(await page.inner_text("#rate-responded")) > 0
        await page.screenshot(path=folder / "live.png", full_page=True)
        await page.goto(f"{base}/audit")
        await expect(page.locator("table")).to_contain_text("edit+replay")
        await page.screenshot(path=folder / "audit.png", full_page=True)

        viewer = await logged_in(browser, base, "vera", dialogs)
        await viewer.click("a:has-text('b-hostile')")
        await expect(viewer.locator("main")).to_contain_text("Viewers cannot resolve")
        assert dialogs == []  # the hostile markup ran no script

        report = await audit(operator, k, posted)
    places = report.places()
    assert [places[e]["responses"] for e in ("b-esc", dead_event, "b-ok")] == [1, 1, 1]
    assert report.duplicate_responses == []
    assert report.undrained == []
