"""The four Baton services; each runs as ``python -m services.<name>``."""

from __future__ import annotations

import importlib
from types import ModuleType

from shared import heap
from shared.keys import SERVICES


def checked(name: str) -> str:
    """``name``, if it names a service; else :class:`ValueError`."""
    if name not in SERVICES:
        raise ValueError(f"unknown service {name!r}; expected one of {', '.join(SERVICES)}")
    return name


def load(name: str) -> ModuleType:
    """The ``services.<name>.service`` module (``SETTINGS`` class and ``build_stage``)."""
    return importlib.import_module(f"services.{checked(name)}.service")


def main(name: str) -> int:
    """The entry point of ``python -m services.<name>``: run the service until SIGTERM/SIGINT."""
    heap.keep_out_unused_modules()  # before the imports below, which would load them
    from shared.service import run_service  # here, not at the top: after the line above

    module = load(name)
    return run_service(module.SETTINGS, module.build_stage)
