"""The console's settings (``BATON_CONSOLE_*``), built once when ``baton console`` starts.

Who may log in comes from configuration: ``BATON_CONSOLE_TOKEN`` (one operator token) and/or
``BATON_CONSOLE_USERS``, a JSON object ``{"alice": {"token": "...", "role": "operator"}}``.
The console connects to Redis as the ``operator`` user of ``baton acl`` for changes and as the
read-only ``viewer`` user for viewers (``BATON_OPERATOR_REDIS_URL``/``BATON_VIEWER_REDIS_URL``,
the names the env file of ``baton acl`` uses), never as an admin.
"""

from __future__ import annotations

import secrets
from typing import Literal, Self

from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from shared.errors import ConfigError

Role = Literal["viewer", "operator"]
MIN_TOKEN_CHARS = 16


class ConsoleUser(BaseModel):
    """One person (or team) who may log in."""

    token: SecretStr
    role: Role = "viewer"


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BATON_CONSOLE_",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
        env_ignore_empty=True,  # compose passes unset variables as empty strings
    )

    host: str = Field(default="127.0.0.1", description="listen address; loopback unless told")
    port: int = Field(default=8470, ge=1, le=65535)
    token: SecretStr | None = Field(default=None, description="an operator token (user: admin)")
    users: dict[str, ConsoleUser] = Field(default_factory=dict, description="JSON name -> user")
    session_secret: SecretStr = Field(
        default_factory=lambda: SecretStr(secrets.token_hex(32)),
        description="signs session cookies; default: new each start (logins end on restart)",
    )
    session_ttl_s: int = Field(default=12 * 3600, ge=60)
    secure_cookies: bool = Field(default=False, description="cookies only over HTTPS")
    operator_redis_url: str | None = Field(
        default=None,
        validation_alias="BATON_OPERATOR_REDIS_URL",
        description="Redis as the operator user (changes); default: REDIS_URL and its user",
    )
    viewer_redis_url: str | None = Field(
        default=None,
        validation_alias="BATON_VIEWER_REDIS_URL",
        description="Redis as the read-only viewer user; default: the operator's connection",
    )
    jaeger_url: str | None = Field(
        default=None, description="Jaeger UI base URL, for links to traces (e.g. :16686)"
    )
    page_size: int = Field(default=50, ge=1, le=500)
    scan_budget: int = Field(
        default=2000, ge=100, le=100_000, description="entries a filtered page reads at most"
    )

    @model_validator(mode="after")
    def _check_users(self) -> Self:
        for name, user in self.all_users().items():
            if len(user.token.get_secret_value()) < MIN_TOKEN_CHARS:
                raise ConfigError(f"the console token of {name} is shorter than {MIN_TOKEN_CHARS}")
        tokens = [u.token.get_secret_value() for u in self.all_users().values()]
        if len(set(tokens)) != len(tokens):
            raise ConfigError("two console users share a token: give each its own")
        return self

    def all_users(self) -> dict[str, ConsoleUser]:
        """The configured users, ``admin`` (an operator) for ``BATON_CONSOLE_TOKEN``."""
        users = dict(self.users)
        if self.token is not None:
            users.setdefault("admin", ConsoleUser(token=self.token, role="operator"))
        return users

    def with_generated_token(self) -> tuple[Self, str | None]:
        """These settings, with a fresh operator token when nobody could log in otherwise."""
        if self.all_users():
            return self, None
        token = secrets.token_urlsafe(24)
        return self.model_copy(update={"token": SecretStr(token)}), token


def load_console_settings(**overrides: object) -> ConsoleSettings:
    """The console's settings from the environment; a bad one is a clear ConfigError."""
    try:
        return ConsoleSettings(**overrides)  # type: ignore[arg-type]
    except ConfigError:
        raise
    except SettingsError as exc:  # e.g. BATON_CONSOLE_USERS is not JSON
        raise ConfigError(f"invalid console settings: {exc}; BATON_CONSOLE_USERS is JSON: "
                          '{"alice": {"token": "...", "role": "operator"}}') from exc  # fmt: skip
    except ValidationError as exc:
        problems = "; ".join(
            f"BATON_CONSOLE_{'_'.join(str(p) for p in e['loc'][:1]).upper()}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)[:3]
        )
        raise ConfigError(f"invalid console settings: {problems}") from exc
