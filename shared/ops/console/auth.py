"""Logins, roles and cross-site request protection.

A session is a signed, time-limited cookie naming the user, the role and a random CSRF token;
every form that changes something carries that token and a POST without it is refused. The
cookie is ``HttpOnly`` and ``SameSite=Strict``. Before login, the login form is protected the
same way with a token in a cookie of its own (double submit).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from shared.ops.console.settings import ConsoleSettings, ConsoleUser, Role

SESSION_COOKIE = "baton_session"
LOGIN_COOKIE = "baton_login"


@dataclass(frozen=True)
class Session:
    user: str
    role: Role
    csrf: str

    @property
    def can_change(self) -> bool:
        return self.role == "operator"


class ForbiddenError(Exception):
    """The request may not do this (HTTP 403), with what to do instead."""


class Auth:
    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings
        self.users: dict[str, ConsoleUser] = settings.all_users()
        self.signer = URLSafeTimedSerializer(
            settings.session_secret.get_secret_value(), salt="baton-console"
        )

    def check_token(self, token: str) -> tuple[str, Role] | None:
        """The user whose token this is (compared in constant time), else None."""
        found = None
        for name, user in self.users.items():
            if hmac.compare_digest(user.token.get_secret_value().encode(), token.encode()):
                found = (name, user.role)
        return found

    def session(self, request: Request) -> Session | None:
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            data = self.signer.loads(raw, max_age=self.settings.session_ttl_s)
        except BadSignature:
            return None
        user = self.users.get(str(data.get("u")))
        if user is None or user.role != data.get("r"):  # removed or changed since
            return None
        return Session(user=str(data["u"]), role=user.role, csrf=str(data["c"]))

    def start(self, response: Response, user: str, role: Role) -> None:
        value = self.signer.dumps({"u": user, "r": role, "c": secrets.token_urlsafe(24)})
        self._cookie(response, SESSION_COOKIE, value, self.settings.session_ttl_s)
        response.delete_cookie(LOGIN_COOKIE)

    def end(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE)

    def login_token(self, request: Request) -> str:
        """The login form's token: the one in its cookie, else a new one."""
        return request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)

    def set_login_token(self, response: Response, token: str) -> None:
        self._cookie(response, LOGIN_COOKIE, token, 3600)

    def check_login_token(self, request: Request, given: object) -> None:
        expected = request.cookies.get(LOGIN_COOKIE)
        if not expected:
            raise ForbiddenError("the login form is stale or was sent from another site: reload")
        check_csrf(expected, given)

    def _cookie(self, response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            httponly=True,
            samesite="strict",
            secure=self.settings.secure_cookies,
        )


def check_csrf(expected: str, given: object) -> None:
    """Refuse a change whose form does not carry the session's token."""
    if not isinstance(given, str) or not hmac.compare_digest(expected.encode(), given.encode()):
        raise ForbiddenError("the form's security token is missing or stale: reload the page")


def require_operator(session: Session) -> None:
    if not session.can_change:
        raise ForbiddenError(f"{session.user} is a viewer: only operators can change things")
