"""What every page shares: the console's state, sessions, rendering and form handling.

Templates are Jinja2 with autoescaping on for everything, so event text always renders as text;
the Content-Security-Policy allows scripts and styles from the console itself only, so even a
missed escape could not run inline script.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote, urlencode

import jinja2
import orjson
from redis.asyncio import Redis
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from shared.errors import BatonError
from shared.observability.tracing import Tracing
from shared.ops.console import paging
from shared.ops.console.auth import Auth, Session, check_csrf, require_operator
from shared.ops.console.settings import ConsoleSettings
from shared.ops.inbox import InboxEntry
from shared.pipeline.keys import Keys
from shared.pipeline.settings import BatonSettings

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class LoginRequiredError(Exception):
    """No valid session: the browser goes to the login page."""


class NotFoundError(Exception):
    """What the URL names does not exist (HTTP 404)."""


@dataclass
class ConsoleState:
    """Built once at start-up and shared by every request."""

    base: BatonSettings
    settings: ConsoleSettings
    operator_redis: Redis
    viewer_redis: Redis
    tracing: Tracing
    auth: Auth = field(init=False)
    templates: Jinja2Templates = field(init=False)

    def __post_init__(self) -> None:
        self.auth = Auth(self.settings)
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,  # every template, whatever its name
            undefined=jinja2.ChainableUndefined,  # packets differ: absent fields render empty
        )
        env.filters["pretty"] = _pretty
        env.filters["q"] = lambda value: quote(str(value), safe="")
        self.templates = Jinja2Templates(env=env)

    @property
    def keys(self) -> Keys:
        return self.base.keys

    def redis(self, session: Session) -> Redis:
        """Operators act as the operator Redis user, viewers read as the read-only one."""
        return self.operator_redis if session.can_change else self.viewer_redis


def state(request: Request) -> ConsoleState:
    return cast(ConsoleState, request.app.state.console)


def session_of(request: Request) -> Session:
    session = state(request).auth.session(request)
    if session is None:
        raise LoginRequiredError
    return session


async def change_form(request: Request) -> tuple[Session, FormData]:
    """The session and form of a POST that changes something: an operator's, with its token."""
    session = session_of(request)
    form = await request.form()
    check_csrf(session.csrf, form.get("csrf"))
    require_operator(session)
    return session, form


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
    session: Session | None = None,
) -> Response:
    console = state(request)
    values = {
        "session": session,
        "jaeger_url": console.settings.jaeger_url,
        "path": request.url.path,
        **(context or {}),
    }
    return console.templates.TemplateResponse(request, template, values, status_code=status_code)


def redirect(path: str, **query: str | None) -> RedirectResponse:
    shown = {k: v for k, v in query.items() if v}
    return RedirectResponse(path + ("?" + urlencode(shown) if shown else ""), status_code=303)


def number(raw: str | None, name: str) -> float | None:
    """An optional non-negative number from a query string; a clear error otherwise."""
    if raw is None or raw.strip() == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BatonError(f"{name} must be a number, not {raw[:40]!r}") from None
    if value < 0:
        raise BatonError(f"{name} must not be negative")
    return value


def _pretty(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode()


async def entry_at(request: Request, stream: str, noun: str, *, as_operator: bool) -> InboxEntry:
    """The entry of ``stream`` the path names (``entry_id``), read as the session's Redis user;
    :class:`NotFoundError` ("no <noun> ...") when there is none."""
    console = state(request)
    redis = console.operator_redis if as_operator else console.viewer_redis
    entry_id = request.path_params["entry_id"]
    entry = await paging.get(redis, stream, entry_id)
    if entry is None:
        raise NotFoundError(f"no {noun} {entry_id!r}")
    return entry
