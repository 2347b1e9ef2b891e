"""Settings: timing sanity at start-up and the LLM provider default."""

from __future__ import annotations

import pytest

from services.intake.settings import IntakeSettings
from services.validator.settings import ValidatorSettings
from shared.errors import ConfigError
from shared.pipeline.settings import BatonSettings, load_settings


def test_defaults_are_valid_and_offline() -> None:
    settings = BatonSettings()
    assert settings.prefix == "baton"
    assert settings.redis_url is None
    assert settings.llm_provider == "offline"
    assert settings.reclaim_idle_ms_effective == 60_000
    assert settings.max_payload_bytes == 65_536


def test_reclaim_idle_defaults_to_twice_the_llm_timeout() -> None:
    settings = BatonSettings(llm_timeout_s=7.5)
    assert settings.reclaim_idle_ms_effective == 15_000
    assert settings.reclaim_idle_s == 15.0


@pytest.mark.parametrize(("idle_ms", "timeout_s"), [(2_000, 2.0), (1_000, 2.0), (29_999, 30.0)])
def test_reclaim_idle_must_exceed_the_llm_timeout(idle_ms: int, timeout_s: float) -> None:
    with pytest.raises(ConfigError, match="must exceed the LLM timeout"):
        BatonSettings(reclaim_idle_ms=idle_ms, llm_timeout_s=timeout_s)


def test_reclaim_idle_just_over_the_llm_timeout_is_accepted() -> None:
    settings = BatonSettings(reclaim_idle_ms=2_001, llm_timeout_s=2.0, retry_cap_s=1.0)
    assert settings.reclaim_idle_s == 2.001


def test_retry_cap_must_stay_below_the_reclaim_idle_time() -> None:
    with pytest.raises(ConfigError, match="retry_cap_s"):
        BatonSettings(reclaim_idle_ms=5_000, llm_timeout_s=2.0, retry_cap_s=5.0)


def test_bad_timing_from_the_environment_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BATON_RECLAIM_IDLE_MS", "1000")
    monkeypatch.setenv("BATON_LLM_TIMEOUT_S", "30")
    with pytest.raises(ConfigError, match="must exceed the LLM timeout"):
        load_settings(IntakeSettings)


def test_invalid_values_become_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATON_CONCURRENCY", "0")
    with pytest.raises(ConfigError, match="invalid settings"):
        load_settings(BatonSettings)


def test_llm_defaults_to_openai_when_a_base_url_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    settings = BatonSettings()
    assert settings.openai_base_url == "http://127.0.0.1:9/v1"
    assert settings.llm_provider == "openai"


def test_llm_defaults_to_openai_when_an_api_key_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    settings = BatonSettings()
    assert settings.llm_provider == "openai"
    assert "sk-test" not in repr(settings)


def test_llm_defaults_to_offline_without_openai_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert BatonSettings().llm_provider == "offline"


def test_explicit_baton_llm_wins_over_openai_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("BATON_LLM", "offline")
    assert BatonSettings().llm_provider == "offline"


def test_baton_llm_openai_without_endpoint_is_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATON_LLM", "openai")
    assert BatonSettings().llm_provider == "openai"


def test_unknown_llm_provider_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATON_LLM", "anthropic")
    with pytest.raises(ConfigError):
        load_settings(BatonSettings)


def test_redis_url_and_prefix_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("BATON_PREFIX", "acme")
    settings = BatonSettings()
    assert settings.redis_url == "redis://127.0.0.1:1/0"
    assert settings.keys.stream("intake") == "acme:intake"


@pytest.mark.parametrize("prefix", ["", "has space", "a:b", "x" * 65])
def test_prefix_must_be_a_simple_name(monkeypatch: pytest.MonkeyPatch, prefix: str) -> None:
    monkeypatch.setenv("BATON_PREFIX", prefix)
    with pytest.raises(ConfigError):
        load_settings(BatonSettings)


def test_service_settings_read_their_own_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATON_VALIDATOR_MAX_CLARIFICATIONS", "1")
    monkeypatch.setenv("BATON_VALIDATOR_INJECTION_THRESHOLD", "0.5")
    settings = load_settings(ValidatorSettings)
    assert settings.validator_max_clarifications == 1
    assert settings.validator_injection_threshold == 0.5


def test_consumer_names_are_unique_per_process_unless_given() -> None:
    settings = BatonSettings()
    assert settings.consumer_name() != settings.consumer_name()
    assert BatonSettings(consumer="w-1").consumer_name() == "w-1"
