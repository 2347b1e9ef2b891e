"""The console's web application: routes, login, the audit page and error pages.

Pages are rendered on the server; the live view polls JSON with a few lines of plain script
(static/live.js). There is no build step.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import BatonError
from shared.observability.tracing import Tracing
from shared.ops.console import audit, deadletters, escalations, live, runs
from shared.ops.console.auth import ForbiddenError, check_csrf
from shared.ops.console.settings import ConsoleSettings
from shared.ops.console.web import (
    HERE,
    SECURITY_HEADERS,
    ConsoleState,
    LoginRequiredError,
    NotFoundError,
    render,
    session_of,
    state,
)
from shared.pipeline.settings import BatonSettings


async def home(request: Request) -> Response:
    session_of(request)
    return RedirectResponse("/escalations", status_code=303)


async def login_form(request: Request) -> Response:
    auth = state(request).auth
    token = auth.login_token(request)
    response = render(request, "login.html", {"csrf": token, "error": None})
    auth.set_login_token(response, token)
    return response


async def login(request: Request) -> Response:
    auth = state(request).auth
    form = await request.form()
    auth.check_login_token(request, form.get("csrf"))
    found = auth.check_token(str(form.get("token", "")))
    if found is None:
        token = auth.login_token(request)
        return render(request, "login.html", {"csrf": token, "error": "Unknown token."}, 401)
    response = RedirectResponse("/escalations", status_code=303)
    auth.start(response, *found)
    return response


async def logout(request: Request) -> Response:
    session = state(request).auth.session(request)
    if session is not None:
        check_csrf(session.csrf, (await request.form()).get("csrf"))
    response = RedirectResponse("/login", status_code=303)
    state(request).auth.end(response)
    return response


async def audit_page(request: Request) -> Response:
    session = session_of(request)
    console = state(request)
    before = request.query_params.get("before")
    entries = await audit.recent(console.redis(session), console.keys, 100, before)
    return render(request, "audit.html", {"entries": entries}, session=session)


async def _login_required(request: Request, exc: Exception) -> Response:
    if request.method == "GET" and not request.url.path.endswith(".json"):
        return RedirectResponse("/login", status_code=303)
    return Response("login required", status_code=401, headers=SECURITY_HEADERS)


async def _error(request: Request, exc: Exception) -> Response:
    code = (
        403 if isinstance(exc, ForbiddenError) else 404 if isinstance(exc, NotFoundError) else 400
    )
    message = exc.detail if isinstance(exc, BatonError) else str(exc)
    session = state(request).auth.session(request)
    return render(request, "error.html", {"message": message, "code": code}, code, session)


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every response that does not set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in SECURITY_HEADERS.items():
                    if key not in headers:
                        headers[key] = value
            await send(message)

        await self.app(scope, receive, send_secured)


def create_app(
    base: BatonSettings,
    settings: ConsoleSettings,
    operator_redis: Redis,
    viewer_redis: Redis | None = None,
) -> Starlette:
    """The console over these Redis clients (closed when the app stops)."""
    console = ConsoleState(
        base=base,
        settings=settings,
        operator_redis=operator_redis,
        viewer_redis=viewer_redis or operator_redis,
        tracing=Tracing.from_env("baton-console"),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            console.tracing.shutdown()
            await console.operator_redis.aclose()
            if console.viewer_redis is not console.operator_redis:
                await console.viewer_redis.aclose()

    routes = [
        Route("/", home),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/escalations", escalations.list_page),
        Route("/escalations/{entry_id}", escalations.detail_page),
        Route("/escalations/{entry_id}/resolve", escalations.resolve, methods=["POST"]),
        Route("/dlq", deadletters.list_page),
        Route("/dlq/replay", deadletters.bulk_replay, methods=["POST"]),
        Route("/dlq/purge", deadletters.bulk_purge, methods=["POST"]),
        Route("/dlq/{entry_id}", deadletters.detail_page),
        Route("/dlq/{entry_id}/replay", deadletters.replay_edited, methods=["POST"]),
        Route("/runs", runs.find),
        Route("/runs/{event_id}", runs.show),
        Route("/live", live.page),
        Route("/live.json", live.data),
        Route("/audit", audit_page),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={
            LoginRequiredError: _login_required,
            ForbiddenError: _error,
            NotFoundError: _error,
            BatonError: _error,
        },
    )
    app.state.console = console
    return app
