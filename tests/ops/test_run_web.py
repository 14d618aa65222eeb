"""`etiket-sync run --web`: the web page served by the running agent, over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

from etiket_sync_agent.cli.app import _bare_web
from etiket_sync_agent.home import Home
from etiket_sync_agent.runtime import Runtime
from tests.conftest import ETIKET_SYNC
from tests.helpers import add_folder_source, make_dataset, wait_for
from tests.ops.receivers import free_port


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.status, resp.read().decode()


def _ok(url: str) -> bool:
    try:
        return _get(url)[0] == 200
    except OSError:
        return False


def test_run_serves_the_overview_with_its_sources(home: Home, tmp_path: Path) -> None:
    root = tmp_path / "data"
    make_dataset(root, "a", {"f.txt": "one"}, name="Sweep A")
    rt = Runtime(home)
    add_folder_source(rt, root, name="fridge-lab")
    rt.close()
    port = free_port()
    env = {**os.environ, "ETIKET_SYNC_HOME": str(home.data_dir)}
    agent = subprocess.Popen(
        [ETIKET_SYNC, "run", "--web", f"127.0.0.1:{port}", "--summary-every", "3600"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: _ok(url + "/api/status"), timeout=60)

        def synchronized() -> bool:
            data = json.loads(_get(url + "/api/status")[1])
            return data["loop"]["state"] == "running" and any(
                s["name"] == "fridge-lab" and s["items"]["synchronized"] == 1
                for s in data["sources"]
            )

        assert wait_for(synchronized, timeout=60)  # the page follows the running loop
        status, page = _get(url + "/")
        assert status == 200 and "fridge-lab" in page
        assert "Sweep A" in _get(url + "/datasets")[1]
    finally:
        agent.terminate()
        out, err = agent.communicate(timeout=60)
    assert agent.returncode == 0, err
    assert f"Web page on {url}/" in out
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "/", timeout=5)  # stopped with the agent


def test_a_non_local_address_needs_a_token_and_once_is_refused(cli) -> None:
    r = cli("run", "--web", "0.0.0.0:0", check=False)
    assert r.returncode == 2 and "needs an access token" in r.stderr
    assert "Traceback" not in r.stderr
    r = cli("run", "--once", "--web", check=False)
    assert r.returncode == 2 and "--web serves the page beside the endless loop" in r.stderr


def test_bare_web_takes_the_default_address() -> None:
    assert _bare_web(["run", "--web"]) == ["run", "--web", "127.0.0.1:8765"]
    assert _bare_web(["run", "--web", "-q"]) == ["run", "--web", "127.0.0.1:8765", "-q"]
    assert _bare_web(["run", "--web", "0.0.0.0:9"]) == ["run", "--web", "0.0.0.0:9"]
    assert _bare_web(["run", "--web=9000"]) == ["run", "--web=9000"]
