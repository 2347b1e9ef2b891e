"""deploy/requirements.txt: the image's pinned packages agree with pyproject.toml (`make lock`)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "deploy" / "requirements.txt"


def pins() -> dict[str, Version]:
    out: dict[str, Version] = {}
    for line in LOCK.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not pinned: {line}"
            out[canonicalize_name(name)] = Version(version)
    return out


def test_every_runtime_dependency_is_pinned_within_its_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = pins()
    for text in project["dependencies"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is missing from {LOCK.name}: run make lock"
        assert requirement.specifier.contains(pinned[name]), (text, pinned[name])


def test_the_image_carries_no_bench_or_dev_packages() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    pinned = pins()
    for group in ("bench", "dev"):
        for text in extras[group]:
            name = canonicalize_name(Requirement(text).name)
            assert name not in pinned, f"{name} ({group}) must not be in the image"
