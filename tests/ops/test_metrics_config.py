"""The saved metrics address: `config metrics`, `run` serving it, `service install
--metrics` writing it into the service's command line."""

from __future__ import annotations

import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from etiket_sync_agent.errors import ConfigError
from etiket_sync_agent.home import Home
from tests.conftest import ETIKET_SYNC
from tests.helpers import wait_for
from tests.ops.receivers import free_port
from tests.ops.test_metrics import healthz


def test_config_metrics_saves_shows_and_removes(cli, home: Home) -> None:
    assert cli("config", "metrics").stdout.strip() == "metrics: off"
    assert "127.0.0.1:9470" in cli("config", "metrics", "9470").stdout
    assert cli("config", "show", "--json", as_json=True) == {"metrics": "127.0.0.1:9470"}
    assert cli("config", "metrics").stdout.strip() == "metrics: 127.0.0.1:9470"
    r = cli("config", "metrics", "nohost:notaport", check=False)
    assert r.returncode == 2 and "invalid metrics address" in r.stderr
    assert "Traceback" not in r.stderr
    assert cli("config", "show", "--json", as_json=True) == {"metrics": "127.0.0.1:9470"}
    cli("config", "metrics", "off")
    assert cli("config", "show", "--json", as_json=True) == {"metrics": None}


@pytest.mark.parametrize("given", [None, "off"])
def test_run_serves_metrics_on_the_saved_address_unless_off(
    cli, home: Home, given: str | None
) -> None:
    port = free_port()
    cli("config", "metrics", f"127.0.0.1:{port}")
    env = {**os.environ, "ETIKET_SYNC_HOME": str(home.data_dir)}
    extra = [] if given is None else ["--metrics", given]
    agent = subprocess.Popen(
        [ETIKET_SYNC, "run", "-q", *extra], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: cli("status", "--json", as_json=True)["loop"]["state"] == "running")
        if given is None:
            assert wait_for(lambda: _answers(url))
            assert healthz(url)[0] == 200
        else:
            with pytest.raises(urllib.error.URLError):
                urllib.request.urlopen(url + "/healthz", timeout=5)
    finally:
        agent.terminate()
        out, err = agent.communicate(timeout=30)
    assert ("Metrics on" in out) == (given is None), (out, err)


def _answers(url: str) -> bool:
    try:
        return healthz(url)[0] in (200, 503)
    except urllib.error.URLError:
        return False


@pytest.mark.parametrize("manager", ["systemd", "launchd", "windows-task"])
def test_service_install_writes_metrics_into_the_command_line(
    ops_cli, manager: str, tmp_path: Path
) -> None:
    plan = ops_cli("service", "install", "--print", "--manager", manager,
                   "--metrics", "9464", "--json", as_json=True)  # fmt: skip
    assert plan["program"][-4:] == ["--metrics", "127.0.0.1:9464", "--summary-every", "600"]
    assert "127.0.0.1:9464" in plan["files"][0]["content"]
    plain = ops_cli("service", "install", "--print", "--manager", manager).output
    assert "--metrics" not in plain  # the saved setting applies then
    with pytest.raises(ConfigError, match="invalid metrics address"):
        ops_cli("service", "install", "--print", "--metrics", "x:y")
