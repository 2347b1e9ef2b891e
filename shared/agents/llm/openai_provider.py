"""The ``openai`` provider: any OpenAI-compatible Chat Completions server.

OpenAI itself, Azure OpenAI (v1 endpoint), Ollama, vLLM or a LiteLLM proxy, chosen with
``OPENAI_BASE_URL`` (key in ``OPENAI_API_KEY``; local servers that ignore it need none). One call
of :meth:`OpenAIClient.generate` is, per HTTP attempt:

1. the circuit breaker (:mod:`shared.agents.llm.breaker`) grants a permit or fails fast;
2. the global rate limiter (:mod:`shared.agents.llm.ratelimit`) reserves a request and a token
estimate,    waiting for room;
3. the request goes out with ``response_format`` from the contract
(:mod:`shared.agents.llm.structured`),    bounded by ``BATON_LLM_TIMEOUT_S``;
4. failures are classified (:mod:`shared.agents.llm.failures`): permanent ones raise at once,
retryable    ones are retried after backoff (:mod:`shared.agents.llm.retry`).

The HTTP exchange itself is :mod:`shared.agents.llm.transport` (the ``openai`` SDK, one shared
client
per base URL on its aiohttp transport). Reasoning models (``BATON_LLM_REASONING_MODELS``, or a
400 asking for it) get ``max_completion_tokens`` and no temperature.

Prompts and reply text are never logged nor put into exceptions; log lines carry agent, model,
attempt, HTTP status and the provider's error code.
"""

from __future__ import annotations

import asyncio
import re
from typing import cast

import structlog
from redis.asyncio import Redis

from shared.agents.llm.breaker import CircuitBreaker
from shared.agents.llm.client import (
    Availability,
    InvalidOutputError,
    LLMRequest,
    LLMResult,
    T,
    Usage,
)
from shared.agents.llm.failures import Failure, classify
from shared.agents.llm.offline import estimate_tokens
from shared.agents.llm.pricing import PriceTable
from shared.agents.llm.ratelimit import Limit, RateLimiter, Reservation
from shared.agents.llm.retry import RetryPolicy
from shared.agents.llm.structured import (
    LLM_ERROR,
    MODES,
    Mode,
    messages,
    parse_reply,
    response_format,
    system_prompt,
)
from shared.agents.llm.transport import AzureTarget, ChatReply, ChatTransport
from shared.errors import (
    ConfigError,
    ContractError,
    PermanentError,
    RetryableError,
    UnavailableError,
)
from shared.pipeline.settings import BatonSettings

log = structlog.get_logger("baton.llm")

LLM_UNAVAILABLE = "llm_unavailable"
NO_KEY = "unused"
"""Sent as the API key to local servers configured without one (they ignore it)."""


class OpenAIClient:
    """An :class:`~shared.agents.llm.client.LLMClient` for any OpenAI-compatible Chat Completions
    server.

    Build it with :meth:`from_settings` (or ``shared.agents.llm.build_llm``); the constructor takes
    the parts, for tests.
    """

    def __init__(
        self,
        transport: ChatTransport,
        *,
        structured: str = "auto",
        policy: RetryPolicy,
        breaker: CircuitBreaker,
        limiter: RateLimiter | None = None,
        prices: PriceTable | None = None,
        timeout_s: float,
        reasoning_models: str = BatonSettings.model_fields["llm_reasoning_models"].default,
    ) -> None:
        if structured != "auto" and structured not in MODES:
            raise ConfigError(f"unknown structured output mode {structured!r}")
        self._transport = transport
        self._structured = structured
        self._policy = policy
        self._breaker = breaker
        self._limiter = limiter
        self._prices = prices or PriceTable()
        self._timeout_s = timeout_s
        self._reasoning = re.compile(reasoning_models)
        self._completion_tokens: set[str] = set()
        """Models that take max_completion_tokens (matched by name, or learnt from a 400)."""
        self._modes: dict[str, Mode] = {}
        """Per model (this client is one base URL's): the mode ``auto`` settled on."""
        self._unpriced: set[str] = set()

    @classmethod
    def from_settings(cls, settings: BatonSettings, redis: Redis | None = None) -> OpenAIClient:
        """The client ``settings`` describe; ``redis`` carries the global rate limit.

        Raises:
            ConfigError: no key for the hosted API, or a rate limit configured without Redis.
        """
        secret = settings.azure_openai_api_key or settings.openai_api_key
        key = secret.get_secret_value() if secret else None
        azure = settings.azure_openai_endpoint
        if not key and not settings.openai_base_url and not azure:
            raise ConfigError("BATON_LLM=openai needs OPENAI_API_KEY, or OPENAI_BASE_URL")
        transport = ChatTransport(
            settings.openai_base_url,
            key or NO_KEY,
            organization=settings.openai_organization,
            project=settings.openai_project,
            azure=AzureTarget(azure, settings.openai_api_version) if azure else None,
            backstop_s=settings.llm_timeout_s + 5,
        )
        breaker = CircuitBreaker(
            transport.name,
            failure_threshold=settings.llm_breaker_failures,
            cooldown_s=settings.llm_breaker_cooldown_s,
        )
        policy = RetryPolicy(
            max_attempts=settings.llm_max_attempts,
            base_s=settings.llm_backoff_base_s,
            cap_s=settings.llm_backoff_cap_s,
            max_wait_s=settings.llm_max_wait_s,
        )
        return cls(
            transport,
            structured=settings.llm_structured,
            policy=policy,
            breaker=breaker,
            limiter=limiter_from_settings(settings, redis),
            prices=PriceTable(settings.llm_prices),
            timeout_s=settings.llm_timeout_s,
            reasoning_models=settings.llm_reasoning_models,
        )

    @property
    def state(self) -> Availability:
        """The provider's circuit breaker: ``closed``, ``open`` or ``half_open``."""
        return self._breaker.state

    async def wait_until_available(self) -> None:
        """Return once the provider may be called (see :meth:`CircuitBreaker.wait_until_available`).

        The consumer runtime awaits this before taking new events: it returns at once while the
        breaker is closed, sleeps out an open breaker's cool-down, and waits for a half-open
        probe's verdict. It never raises.
        """
        await self._breaker.wait_until_available()

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def generate(self, request: LLMRequest[T]) -> LLMResult[T]:
        """Fill ``request.schema``; see :class:`~shared.agents.llm.client.LLMClient` for the
        errors."""
        mode = self.structured_mode(request.model)
        sent = 0
        failed = 0
        while True:
            sent += 1
            outcome = await self._attempt(request, mode)
            if isinstance(outcome, ChatReply):
                return self._result(request, outcome, mode, sent)
            if outcome.kind == "schema_unsupported":
                mode = self._fall_back(request, mode, outcome)
                continue
            if outcome.kind == "completion_tokens":
                if request.model in self._completion_tokens:
                    raise PermanentError(f"{request.agent}: {outcome.detail}", reason=LLM_ERROR)
                self._completion_tokens.add(request.model)
                log.warning("llm.max_completion_tokens", model=request.model)
                continue
            if outcome.kind == "permanent":
                raise PermanentError(f"{request.agent}: {outcome.detail}", reason=LLM_ERROR)
            failed += 1
            delay = self._policy.delay(failed - 1, outcome.retry_after)
            if failed >= self._policy.max_attempts or delay is None:
                raise self._gave_up(request, sent, outcome)
            log.warning(
                "llm.retry", agent=request.agent, model=request.model, attempt=sent,
                cause=outcome.cause, status=outcome.status, retry_after=outcome.retry_after,
                delay_s=round(delay, 3),
            )  # fmt: skip
            await asyncio.sleep(delay)

    def _gave_up(self, request: LLMRequest[T], sent: int, last: Failure) -> RetryableError:
        """The error for a call out of attempts: the provider's if its breaker has opened
        meanwhile (an outage: :class:`UnavailableError`, which costs the event no delivery),
        else the event's own (the breaker is closed: others' calls go through)."""
        detail = f"{request.agent}: LLM unavailable after {sent} attempts: {last.detail}"
        if last.outage and self._breaker.state != "closed":
            return UnavailableError(detail, reason=LLM_UNAVAILABLE)
        return RetryableError(detail, reason=LLM_UNAVAILABLE)

    async def _attempt(self, request: LLMRequest[T], mode: Mode) -> ChatReply | Failure:
        """One HTTP attempt under the breaker and the rate limit."""
        permit = await self._breaker.acquire()
        try:
            reservation = await self._reserve(request, mode)
            try:
                completion = await self._call(request, mode)
            except Exception as exc:
                failure = classify(exc)
                if failure is None:
                    raise
                if failure.outage:
                    permit.failure()
                else:
                    permit.success()
                if failure.status is not None and self._limiter is not None:
                    await self._limiter.settle(reservation, 0)
                return failure
            permit.success()
            if self._limiter is not None:
                await self._limiter.settle(reservation, _usage(request, completion, mode).total)
            return completion
        finally:
            permit.release()

    async def _reserve(self, request: LLMRequest[T], mode: Mode) -> Reservation | None:
        if self._limiter is None:
            return None
        estimate = _prompt_estimate(request, mode) + request.max_tokens
        return await self._limiter.acquire(request.model, estimate)

    async def _call(self, request: LLMRequest[T], mode: Mode) -> ChatReply:
        async with asyncio.timeout(self._timeout_s):
            body: dict[str, object] = {
                "model": request.model,
                "messages": messages(request, mode),
                "response_format": response_format(request.schema, mode),
            }
            if self._reasoning.match(request.model) or request.model in self._completion_tokens:
                # Reasoning models count their hidden reasoning in max_completion_tokens and
                # accept no temperature but the default.
                body["max_completion_tokens"] = request.max_tokens
            else:
                body["max_tokens"] = request.max_tokens
                body["temperature"] = request.temperature
            return await self._transport.complete(body)

    def structured_mode(self, model: str) -> Mode:
        """How ``model``'s replies are asked for now: the setting, or what ``auto`` settled on."""
        if self._structured != "auto":
            return cast(Mode, self._structured)
        return self._modes.get(model, MODES[0])

    def _fall_back(self, request: LLMRequest[T], mode: Mode, failure: Failure) -> Mode:
        """The next weaker mode for ``request.model``, for good, after the server rejected
        ``mode``'s response_format (remembered for this base URL and model)."""
        settled = MODES.index(self.structured_mode(request.model))
        weaker = max(MODES.index(mode) + 1, settled)
        if self._structured != "auto" or weaker >= len(MODES):
            raise PermanentError(
                f"{request.agent}: {failure.detail}: the server rejected response_format "
                f"{mode}; set BATON_LLM_STRUCTURED to the mode it supports",
                reason=LLM_ERROR,
            )
        if weaker > settled:
            self._modes[request.model] = MODES[weaker]
            log.warning(
                "llm.structured.fallback", model=request.model, status=failure.status,
                rejected=mode, to=MODES[weaker],
            )  # fmt: skip
        return MODES[weaker]

    def _result(
        self, request: LLMRequest[T], completion: ChatReply, mode: Mode, sent: int
    ) -> LLMResult[T]:
        usage = _usage(request, completion, mode)
        cost = self._cost(request.model, completion.model, usage)
        try:
            value = parse_reply(completion, request.schema)
        except ContractError as exc:
            # The reply was paid for even though it is unusable: say how much.
            raise InvalidOutputError(
                exc.detail, usage=usage, cost_usd=cost, errors=exc.errors
            ) from None
        return LLMResult(
            value=value,
            usage=usage,
            model=completion.model or request.model,
            cost_usd=cost,
            attempts=sent,
        )

    def _cost(self, model: str, answered_by: str | None, usage: Usage) -> float:
        cost = self._prices.cost(model, usage)
        if cost is None and answered_by:
            cost = self._prices.cost(answered_by, usage)
        if cost is None:
            if model not in self._unpriced:
                self._unpriced.add(model)
                log.info("llm.price.unknown", model=model, hint="set BATON_LLM_PRICES")
            return 0.0
        return cost


def _prompt_estimate(request: LLMRequest[T], mode: Mode) -> int:
    return estimate_tokens(system_prompt(request, mode)) + estimate_tokens(request.user)


def _usage(request: LLMRequest[T], completion: ChatReply, mode: Mode) -> Usage:
    """Usage as reported; estimated (four characters a token) if the server reported none."""
    if completion.usage is not None:
        return Usage(completion.usage.prompt_tokens, completion.usage.completion_tokens)
    content = completion.choices[0].message.content or "" if completion.choices else ""
    return Usage(_prompt_estimate(request, mode), estimate_tokens(content))


def limiter_from_settings(settings: BatonSettings, redis: Redis | None) -> RateLimiter | None:
    """The global rate limiter, or ``None`` when no limit is configured."""
    default = Limit(settings.llm_rpm, settings.llm_tpm)
    per_model = {
        model: Limit(entry.get("rpm", default.rpm), entry.get("tpm", default.tpm))
        for model, entry in settings.llm_limits.items()
    }
    if default.unlimited and all(limit.unlimited for limit in per_model.values()):
        return None
    if redis is None:
        raise ConfigError("BATON_LLM_RPM/TPM/LIMITS need Redis: call build_llm(settings, redis)")
    return RateLimiter(
        redis, settings.prefix, default=default, per_model=per_model,
        max_wait_s=settings.llm_max_wait_s,
    )  # fmt: skip
