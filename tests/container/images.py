"""The images the tier needs, made on this machine: no image registry is reachable here.

* a Debian bookworm ``minbase`` root file system (debootstrap, from the machine's own apt
  mirror), imported as an image;
* on it, stand-ins for the images the project names: Python 3.11 (Debian's python3) for the
  Dockerfile's ``PYTHON_IMAGE`` and Redis (Debian's redis-server) for compose's ``redis``
  (tests/container/base/);
* then the project's image, from deploy/Dockerfile with build arguments only.

Base images are made once per engine data root and kept; the project image is built every run
(its dependency layer comes from the cache when deploy/requirements.txt did not change).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import docker
from docker.errors import ImageNotFound

REPO_ROOT = Path(__file__).resolve().parents[2]
BASE_DIR = Path(__file__).resolve().parent / "base"
DEBIAN = "baton-tier/debian:bookworm-minbase"
PYTHON = "baton-tier/python:3.11-bookworm"
REDIS = "baton-tier/redis:bookworm"
PROJECT = "baton:container-tier"
PROJECT_LABEL = "org.opencontainers.image.title=baton"  # deploy/Dockerfile's, on the image only

# Like the official slim images: no documentation, manuals or translations in the images.
DPKG_EXCLUDES = "".join(
    f"path-exclude /usr/share/{d}/*\n" for d in ("doc", "man", "info", "locale")
)
ROOTFS_EXCLUDES = ("./var/cache/apt/archives/*.deb", "./var/lib/apt/lists/*",
                   "./usr/share/doc/*", "./usr/share/man/*", "./usr/share/info/*",
                   "./usr/share/locale/*")  # fmt: skip


def apt_mirror(sources: Path = Path("/etc/apt")) -> str:
    """The Debian archive this machine's apt uses (deb822 ``URIs:`` or one-line ``deb``)."""
    files = [sources / "sources.list", *sorted((sources / "sources.list.d").glob("*"))]
    for path in files:
        text = path.read_text() if path.is_file() else ""
        for match in re.finditer(r"^(?:URIs:|deb)\s+(\S+)", text, re.MULTILINE):
            uri = match.group(1).rstrip("/")
            if uri.endswith("/debian"):
                return uri
    raise RuntimeError("no Debian archive in /etc/apt/sources.list*")


def extra_ca_certificates(directory: Path = Path("/usr/local/share/ca-certificates")) -> str:
    """The machine's own CA certificates (PEM), for pip inside the build; empty if none."""
    pems = sorted(directory.glob("**/*.crt")) if directory.is_dir() else []
    return "".join(p.read_text().rstrip() + "\n" for p in pems)


def exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except ImageNotFound:
        return False
    return True


def debian_base(client: docker.DockerClient, workdir: Path) -> float:
    """Import a debootstrapped minbase file system as :data:`DEBIAN`; seconds taken."""
    if exists(client, DEBIAN):
        return 0.0
    began = time.monotonic()
    rootfs = workdir / "rootfs"
    shutil.rmtree(rootfs, ignore_errors=True)
    subprocess.run(
        ["debootstrap", "--variant=minbase", "bookworm", str(rootfs), apt_mirror()],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    (rootfs / "etc/dpkg/dpkg.cfg.d/excludes").write_text(DPKG_EXCLUDES)
    tarball = workdir / "rootfs.tar"
    excludes = [f"--exclude={pattern}" for pattern in ROOTFS_EXCLUDES]
    subprocess.run(["tar", "-C", str(rootfs), *excludes, "-cf", str(tarball), "."], check=True)
    repository, tag = DEBIAN.split(":")
    client.api.import_image_from_file(str(tarball), repository=repository, tag=tag)
    shutil.rmtree(rootfs)
    tarball.unlink()
    return time.monotonic() - began


def stand_in(client: docker.DockerClient, tag: str, dockerfile: str) -> float:
    """Build a base image of tests/container/base on :data:`DEBIAN`; seconds taken."""
    if exists(client, tag):
        return 0.0
    began = time.monotonic()
    client.images.build(
        path=str(BASE_DIR), dockerfile=dockerfile, tag=tag, buildargs={"BASE": DEBIAN},
        rm=True, forcerm=True,
    )  # fmt: skip
    return time.monotonic() - began


def base_images(client: docker.DockerClient) -> dict[str, float]:
    """Every base image the project needs; seconds each took (0 when already there)."""
    with tempfile.TemporaryDirectory(prefix="baton-rootfs-", dir="/var/tmp") as workdir:
        debian = debian_base(client, Path(workdir))
    return {
        "debian_s": round(debian, 1),
        "python_s": round(stand_in(client, PYTHON, "python.Dockerfile"), 1),
        "redis_s": round(stand_in(client, REDIS, "redis.Dockerfile"), 1),
    }


def redis_version(client: docker.DockerClient) -> str:
    """major.minor of the Redis image's server (``baton acl --redis-version``)."""
    out = client.containers.run(REDIS, ["redis-server", "--version"], remove=True)
    match = re.search(rb"v=(\d+\.\d+)\.", out if isinstance(out, bytes) else b"")
    assert match, out
    return match.group(1).decode()


def build_args() -> dict[str, str]:
    """deploy/Dockerfile's build arguments on this machine: the only thing the tier changes."""
    return {"PYTHON_IMAGE": PYTHON, "EXTRA_CA_CERTS": extra_ca_certificates()}


def project_image(client: docker.DockerClient, tag: str = PROJECT) -> float:
    """Build deploy/Dockerfile (legacy builder, as the SDK does) as ``tag``; seconds taken."""
    began = time.monotonic()
    client.images.build(
        path=str(REPO_ROOT), dockerfile="deploy/Dockerfile", tag=tag, buildargs=build_args(),
        rm=True, forcerm=True,
    )  # fmt: skip
    return time.monotonic() - began
