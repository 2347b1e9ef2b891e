"""The healthcheck's heartbeat file: valid until the moment written in it, then the check fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from shared.runtime.health import heartbeat_valid, main, write_heartbeat


def test_a_heartbeat_holds_until_its_ttl_runs_out(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat"
    write_heartbeat(path, "triage-1", ttl_s=15.0, now=1000.0)
    assert heartbeat_valid(path, now=1014.9)
    assert not heartbeat_valid(path, now=1015.0)


def test_a_missing_or_garbled_heartbeat_file_is_not_valid(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat"
    assert not heartbeat_valid(path)
    path.write_text("")
    assert not heartbeat_valid(path)
    path.write_text("soon triage-1\n")
    assert not heartbeat_valid(path)


def test_the_check_exits_0_while_valid_1_when_stale_2_without_a_file(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat"
    write_heartbeat(path, "triage-1", ttl_s=60.0)
    assert main([str(path)]) == 0
    write_heartbeat(path, "triage-1", ttl_s=-1.0)
    assert main([str(path)]) == 1
    assert main([]) in (1, 2)  # the variable may be set where the tests run


def test_python_m_shared_health_reads_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat"
    write_heartbeat(path, "triage-1", ttl_s=60.0)
    command = [sys.executable, "-m", "shared.runtime.health"]
    env = {"BATON_HEARTBEAT_FILE": str(path), "PATH": "/usr/bin:/bin"}
    assert subprocess.run(command, env=env, check=False).returncode == 0
    path.unlink()
    assert subprocess.run(command, env=env, check=False, capture_output=True).returncode == 1
