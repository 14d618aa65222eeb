"""``etiket-sync service``: the unit, plist and task XML it writes, install/uninstall
leaving nothing behind, ``--print`` changing nothing, status from manager + heartbeat."""

from __future__ import annotations

import os
import plistlib
import shutil
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from etiket_sync_agent.errors import NotFoundError
from etiket_sync_agent.home import Home
from etiket_sync_agent.ops.service.manager import ServiceError
from etiket_sync_agent.run import sync_loop
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services.status import loop_state
from tests.conftest import FAST
from tests.helpers import (
    add_folder_source,
    item_status,
    make_dataset,
    running_engine,
    wait_for,
)
from tests.ops.conftest import tree

TASK_NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
PYTHON = str(Path(sys.executable).absolute())


@pytest.fixture
def places(tmp_path: Path, home: Home, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A config dir for systemd units and a user home for LaunchAgents, both empty."""
    cfg, user = tmp_path / "xdg-config", tmp_path / "user-home"
    cfg.mkdir()
    user.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(cfg))
    monkeypatch.setenv("HOME", str(user))
    Runtime(home).close()  # the home's own folders exist before we look
    return {"cfg": cfg, "user": user, "home": home.data_dir}


def _user_systemd() -> str | None:
    """Why no user systemd can be used here, or None when one answers."""
    if shutil.which("systemctl") is None:
        return "systemctl is not installed"
    proc = subprocess.run(
        ["systemctl", "--user", "show-environment"], capture_output=True, text=True
    )
    if proc.returncode != 0:
        why = " ".join(proc.stderr.split()) or f"exit {proc.returncode}"
        return f"no user systemd manager is running here (systemctl --user: {why})"
    return None


def test_systemd_unit_passes_systemd_analyze_verify(ops_cli, places, tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian package `systemd`)")
    out = ops_cli(
        "service", "install", "--no-start", "--manager", "systemd", "--json", as_json=True
    )
    unit = places["cfg"] / "systemd" / "user" / "etiket-sync.service"
    assert out["written"] == [str(unit)]
    text = unit.read_text()
    lines = text.splitlines()
    exec_start = next(line for line in lines if line.startswith("ExecStart="))
    assert exec_start.startswith(f'ExecStart="{PYTHON}" "-m" "etiket_sync_agent"')
    assert f'"--home" "{places["home"]}"' in exec_start
    for needed in ("Restart=on-failure", "StandardOutput=journal", "WantedBy=default.target"):
        assert needed in lines
    runtime_dir = tmp_path / "xdg-runtime"
    runtime_dir.mkdir(mode=0o700)
    proc = subprocess.run(
        ["systemd-analyze", "--user", "verify", str(unit)],
        capture_output=True,
        text=True,
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime_dir)},
    )
    # verify exits 0 on mere warnings ("Unknown key ..."): any line about our unit fails
    complaints = [line for line in (proc.stdout + proc.stderr).splitlines() if unit.name in line]
    assert proc.returncode == 0 and not complaints, proc.stdout + proc.stderr


def test_systemd_unit_quotes_a_home_with_spaces_and_specifiers(
    ops_cli, places, tmp_path: Path
) -> None:
    odd = tmp_path / "my lab %h $HOME"
    out = ops_cli(
        "service", "install", "--print", "--manager", "systemd", "--json", as_json=True,
        env={"ETIKET_SYNC_HOME": str(odd)},
    )  # fmt: skip
    text = out["files"][0]["content"]
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    # quoted as one word; % and $ escaped so systemd takes them literally
    assert f'"--home" "{tmp_path}/my lab %%h $$HOME"' in exec_start
    assert out["changed"] is False


def test_launchd_plist_has_the_required_keys(ops_cli, places) -> None:
    ops_cli("service", "install", "--no-start", "--manager", "launchd")
    path = places["user"] / "Library" / "LaunchAgents" / "org.etiket-sync.etiket-sync.plist"
    with open(path, "rb") as f:
        plist = plistlib.load(f)
    assert plist["Label"] == "org.etiket-sync.etiket-sync"
    assert plist["ProgramArguments"][:3] == [PYTHON, "-m", "etiket_sync_agent"]
    assert plist["ProgramArguments"][3:5] == ["--home", str(places["home"])]
    assert plist["RunAtLoad"] is True and plist["KeepAlive"] is True
    assert plist["WorkingDirectory"] == str(places["home"])
    assert Path(plist["StandardOutPath"]).parent == places["home"] / "logs"


def test_windows_task_xml_has_the_required_keys(ops_cli, places) -> None:
    ops_cli("service", "install", "--no-start", "--manager", "windows-task")
    path = places["home"] / "service" / "etiket-sync.xml"
    raw = path.read_bytes()
    assert raw.startswith(b"\xff\xfe")  # UTF-16 with BOM, as schtasks /XML reads it
    task = ET.fromstring(raw.decode("utf-16").split("\n", 1)[1])
    assert task.tag == f"{{{TASK_NS['t']}}}Task"

    def one(xpath: str) -> str:
        found = task.findall(xpath, TASK_NS)
        assert len(found) == 1, xpath
        return (found[0].text or "").strip()

    assert one("t:Triggers/t:LogonTrigger/t:Enabled") == "true"
    user = one("t:Triggers/t:LogonTrigger/t:UserId")
    assert user and one("t:Principals/t:Principal/t:UserId") == user
    assert one("t:Principals/t:Principal/t:LogonType") == "InteractiveToken"
    assert one("t:Principals/t:Principal/t:RunLevel") == "LeastPrivilege"
    assert one("t:Settings/t:RestartOnFailure/t:Interval") == "PT1M"
    assert int(one("t:Settings/t:RestartOnFailure/t:Count")) > 0
    assert one("t:Settings/t:ExecutionTimeLimit") == "PT0S"
    assert one("t:Settings/t:MultipleInstancesPolicy") == "IgnoreNew"
    assert one("t:Actions/t:Exec/t:Command") == PYTHON
    args = one("t:Actions/t:Exec/t:Arguments")
    assert args.startswith(f"-m etiket_sync_agent --home {places['home']}")


@pytest.mark.parametrize("manager", ["systemd", "launchd", "windows-task"])
def test_print_changes_nothing(ops_cli, places, manager: str) -> None:
    before = tree(*places.values())
    result = ops_cli("service", "install", "--print", "--manager", manager)
    assert "Would write" in result.stdout and "Nothing was changed" in result.stdout
    assert tree(*places.values()) == before


@pytest.mark.parametrize("manager", ["systemd", "launchd", "windows-task"])
def test_install_then_uninstall_leaves_nothing_behind(ops_cli, places, manager: str) -> None:
    before = tree(*places.values())
    ops_cli("service", "install", "--no-start", "--manager", manager)
    assert tree(*places.values()) != before
    status = ops_cli("service", "status", "--json", as_json=True)
    assert status["installed"] is True and status["manager"] == manager
    printed = ops_cli("service", "uninstall", "--print")
    assert "Nothing was changed" in printed.stdout
    out = ops_cli("service", "uninstall", "--json", as_json=True)
    assert out["removed"]
    assert tree(*places.values()) == before
    with pytest.raises(NotFoundError):
        ops_cli("service", "uninstall")


def test_install_never_overwrites_a_file_it_did_not_write(ops_cli, places) -> None:
    unit = places["cfg"] / "systemd" / "user" / "etiket-sync.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=/bin/true\n")
    with pytest.raises(ServiceError, match="not written by etiket-sync"):
        ops_cli("service", "install", "--no-start", "--manager", "systemd")
    assert unit.read_text() == "[Service]\nExecStart=/bin/true\n"
    assert not (places["home"] / "service.json").exists()


def test_a_failing_manager_undoes_the_install(ops_cli, places) -> None:
    why = _user_systemd()
    if why is None:
        pytest.skip("a user systemd runs here: install would really succeed")
    before = tree(*places.values())
    with pytest.raises(ServiceError) as info:
        ops_cli("service", "install", "--manager", "systemd")
    assert "--no-start" in (info.value.hint or "")
    assert tree(*places.values()) == before


def test_status_combines_the_manager_view_with_the_heartbeat(
    ops_cli, places, runtime: Runtime, tmp_path: Path
) -> None:
    out = ops_cli("service", "status", "--json", as_json=True)
    assert out["installed"] is False and out["summary"] == "not installed"
    assert out["agent"]["state"] == "never_run"
    ops_cli("service", "install", "--no-start", "--manager", "systemd")
    root = tmp_path / "data"
    make_dataset(root, "a")
    add_folder_source(runtime, root)
    with running_engine(runtime, FAST):
        assert wait_for(
            lambda: (
                ops_cli("service", "status", "--json", as_json=True)["agent"]["state"] == "running"
            )
        )
        out = ops_cli("service", "status", "--json", as_json=True)
        assert out["installed"] is True
        if out["service"]["active"] is None:  # no user systemd here to ask
            assert out["service"]["error"]
            assert out["summary"] == "running outside the service"
        text = ops_cli("service", "status").stdout
        assert "agent: running" in text
    out = ops_cli("service", "status", "--json", as_json=True)
    assert out["agent"]["state"] == "stopped"
    ops_cli("service", "uninstall")


def test_logs_shows_the_end_of_the_agent_log(ops_cli, places, runtime: Runtime, tmp_path):
    root = tmp_path / "data"
    make_dataset(root, "a")
    add_folder_source(runtime, root)
    sync_loop(once=True, runtime=runtime, settings=FAST)  # logs into the home's log file
    last = runtime.home.log_file.read_text().splitlines()[-2:]
    out = ops_cli("service", "logs", "-n", "2").stdout.splitlines()
    assert out == last


def test_system_explains_instead_of_installing(ops_cli, places) -> None:
    before = tree(*places.values())
    text = ops_cli("service", "install", "--system", "--manager", "windows-task").stdout
    assert "LocalSystem" in text and "mapped drive" in text
    assert tree(*places.values()) == before


def test_real_start_and_stop_with_a_user_systemd(ops_cli, places, runtime: Runtime) -> None:
    why = _user_systemd()
    if why is not None:
        pytest.skip(why)
    ops_cli("service", "install", "--manager", "systemd")
    try:
        assert wait_for(
            lambda: ops_cli("service", "status", "--json", as_json=True)["summary"] == "running",
            timeout=60,
        )
        ops_cli("service", "stop")
        assert wait_for(
            lambda: (
                ops_cli("service", "status", "--json", as_json=True)["service"]["active"] is False
            ),
            timeout=60,
        )
        ops_cli("service", "start")
        assert wait_for(
            lambda: ops_cli("service", "status", "--json", as_json=True)["summary"] == "running",
            timeout=60,
        )
    finally:
        ops_cli("service", "uninstall")


def test_the_service_command_runs_the_agent_and_stops_on_sigterm(
    ops_cli, places, runtime: Runtime, tmp_path: Path
) -> None:
    """What the unit/plist/task would start, started here as a service manager would."""
    root = tmp_path / "data"
    make_dataset(root, "a")
    add_folder_source(runtime, root)
    plan = ops_cli("service", "install", "--print", "--json", as_json=True)
    env = {k: v for k, v in os.environ.items() if k != "ETIKET_SYNC_HOME"}  # from argv only
    proc = subprocess.Popen(
        plan["program"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert wait_for(lambda: loop_state(runtime)["state"] == "running", timeout=60)
        assert wait_for(lambda: item_status(runtime, "a") == "synchronized", timeout=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    assert code == 0  # a clean stop: Restart=on-failure leaves it stopped
    assert loop_state(runtime)["state"] == "stopped"
