"""The ops sub-apps, driven through typer's CliRunner on a small app of their own.

``etiket-sync`` does not register ``service`` / ``alerts`` yet (the lead adds them to
``cli/app.py``); until then this app is the way in. Everything below the CLI is real.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from etiket_sync_agent.cli.ops_cmd import alerts_app, service_app
from etiket_sync_agent.home import Home

ops_app = typer.Typer()
ops_app.add_typer(service_app, name="service")
ops_app.add_typer(alerts_app, name="alerts")


@pytest.fixture
def ops_cli(home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``ops_cli("service", "install", "--print")`` -> the CliRunner result; with
    ``as_json=True`` the parsed stdout. Exceptions propagate (as in the real CLI, where
    ``invoke`` turns them into one line)."""
    from etiket_sync_agent.cli import app as cli_app

    monkeypatch.setattr(cli_app._opts, "home", None)

    def run(*args: str, as_json: bool = False, env: dict[str, str] | None = None, code: int = 0):
        result = CliRunner().invoke(
            ops_app, list(args), env={"ETIKET_SYNC_HOME": str(home.data_dir), **(env or {})},
            catch_exceptions=False,
        )  # fmt: skip
        assert result.exit_code == code, result.output
        return json.loads(result.stdout) if as_json else result

    return run


def tree(*roots: Path) -> dict[str, bytes | None]:
    """Every file (with its bytes) and folder under ``roots``, but the state database
    (``service status`` reads the heartbeat from it, which creates it in a new home)."""
    out: dict[str, bytes | None] = {}
    for root in roots:
        for dirpath, dirs, files in os.walk(root):
            for d in dirs:
                out[os.path.join(dirpath, d)] = None
            for f in files:
                if f.startswith("state.db"):
                    continue
                p = os.path.join(dirpath, f)
                out[p] = Path(p).read_bytes()
    return out
