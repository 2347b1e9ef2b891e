"""The reference pipeline's services; each runs as ``python -m services.<name>``.

Which services exist is declared once, in :mod:`services.pipeline`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from shared.runtime import heap  # alone at the top: main() keeps modules out before imports


def checked(name: str) -> str:
    """``name``, if it names a service of the pipeline; else :class:`ValueError`."""
    from services.pipeline import PIPELINE

    if name not in PIPELINE.services:
        raise ValueError(
            f"unknown service {name!r}; expected one of {', '.join(PIPELINE.services)}"
        )
    return name


def load(name: str) -> ModuleType:
    """The service's module (``SETTINGS`` class and ``build_stage``): ``<package>.service``."""
    from services.pipeline import PIPELINE
    from shared.pipeline import VALIDATOR

    package = "services.validator" if checked(name) == VALIDATOR else PIPELINE.agent(name).module
    return importlib.import_module(f"{package}.service")


def main(name: str) -> int:
    """The entry point of ``python -m services.<name>``: run the service until SIGTERM/SIGINT."""
    heap.keep_out_unused_modules()  # before the imports below, which would load them
    from shared.service import run_service  # here, not at the top: after the line above

    module = load(name)
    return run_service(module.SETTINGS, module.build_stage)
