"""What a person sees when a command fails: one or two lines that say what is wrong and what to
do, exit code 2 for a usage or configuration mistake and 1 for a failure. ``--debug`` (anywhere
on the command line) shows the traceback as well."""

from __future__ import annotations

import traceback
from dataclasses import dataclass

from pydantic import ValidationError
from redis.exceptions import AuthenticationError, NoPermissionError, RedisError

from shared.errors import REDIS_UNAVAILABLE, BatonError, ConfigError, ContractError

USAGE = 2
FAILURE = 1


# Redis errors a person can act on, in this order (a refused login is a ConnectionError too):
# what happened, and what to do about it.
_REDIS_HINTS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], str, str], ...] = (
    (
        AuthenticationError,
        "Redis refused the login",
        "Check the user and password in REDIS_URL (baton acl writes them to credentials.env).",
    ),
    (
        NoPermissionError,
        "this Redis user may not do that",
        "Run the command as the operator user (BATON_OPERATOR_REDIS_URL from baton acl).",
    ),
    (
        REDIS_UNAVAILABLE,
        "cannot reach Redis",
        "Is it running? Set REDIS_URL to its address, or start one with `baton up`.",
    ),
)


@dataclass(frozen=True)
class Failure:
    message: str
    exit_code: int


def explain(exc: BaseException) -> Failure:
    """The message and exit code for ``exc``, an error a command did not handle itself."""
    if isinstance(exc, ConfigError | ContractError):
        return Failure(f"error: {exc.detail}", USAGE)
    if isinstance(exc, BatonError):
        return Failure(f"error: {exc.detail}", FAILURE)
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)[:3]
        )
        return Failure(f"error: invalid settings: {problems}", USAGE)
    for kind, what, hint in _REDIS_HINTS:
        if isinstance(exc, kind):
            return Failure(f"error: {what}: {str(exc).rstrip('.')}.\n{hint}", FAILURE)
    if isinstance(exc, RedisError):
        return Failure(f"error: Redis answered: {exc}", FAILURE)
    if isinstance(exc, ValueError) and "Redis URL" in str(exc):
        return Failure(f"error: REDIS_URL is not a Redis URL: {exc}", USAGE)
    return Failure(
        f"error: unexpected {type(exc).__name__}: {exc}\n"
        "Run the command again with --debug for the traceback.",
        FAILURE,
    )


def with_traceback(exc: BaseException, failure: Failure) -> str:
    return "".join(traceback.format_exception(exc)) + failure.message
