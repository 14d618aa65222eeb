"""Shared fixtures: an isolated home per test, a runtime, the CLI as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from etiket_sync_agent.engine.retry_policy import RetryPolicy
from etiket_sync_agent.engine.settings import EngineSettings
from etiket_sync_agent.home import Home
from etiket_sync_agent.runtime import Runtime

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
ETIKET_SYNC = str(Path(sys.executable).with_name("etiket-sync"))

#: fast timings for tests (the defaults suit a lab PC)
FAST = EngineSettings(
    rescan_interval_s=30.0,
    poll_interval_s=0.5,
    db_poll_interval_s=0.2,
    debounce_s=0.05,
    live_interval_s=0.2,
    settle_s=0.0,  # tests that need it set it (tests/engine/test_settle.py)
    heartbeat_s=0.5,
    iteration_budget_s=5.0,
    retry=RetryPolicy(max_attempts=3, base_delay_s=0.0),
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    root = tmp_path / "home"
    monkeypatch.setenv("ETIKET_SYNC_HOME", str(root))
    return Home.resolve(root)


@pytest.fixture
def runtime(home: Home) -> Iterator[Runtime]:
    rt = Runtime(home)
    yield rt
    rt.close()


@pytest.fixture
def cli(home: Home):
    """Run the installed ``etiket-sync`` console script; returns CompletedProcess.

    ``cli(*args, json=True)`` parses stdout as JSON.
    """

    def run(
        *args: str,
        check: bool = True,
        as_json: bool = False,
        prefix: tuple[str, ...] = (),
        extra_env: dict[str, str] | None = None,
        **kw,
    ):
        env = {**os.environ, "ETIKET_SYNC_HOME": str(home.data_dir), "COLUMNS": "200"}
        env.update(extra_env or {})
        proc = subprocess.run(
            [*prefix, ETIKET_SYNC, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            **kw,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"etiket-sync {' '.join(args)} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        if as_json:
            return json.loads(proc.stdout)
        return proc

    return run


#: run a command as root *without* the capabilities that bypass file permissions
NO_DAC_OVERRIDE = (
    "setpriv",
    "--bounding-set=-dac_override,-dac_read_search",
    "--inh-caps=-dac_override,-dac_read_search",
    "--",
)


def require_corpus(sub: str) -> Path:
    path = CORPUS / sub
    if not path.exists():
        pytest.skip(f"shared corpus not found at {path} (expected beside the project)")
    return path
