"""Unit tests are pure: no Redis, and no settings leaking in from the developer's environment."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every variable the settings read, so defaults are the documented ones."""
    for name in list(os.environ):
        if name.startswith(("BATON_", "OPENAI_")) or name == "REDIS_URL":
            monkeypatch.delenv(name)
