"""macOS: a LaunchAgent, ``~/Library/LaunchAgents/<label>.plist``, loaded with launchctl.

``RunAtLoad`` starts it at login, ``KeepAlive`` restarts it whenever it exits; the agent
does not daemonize itself and stops cleanly on SIGTERM, as launchd.plist(5) asks.
"""

from __future__ import annotations

import os
import plistlib
from pathlib import Path

from etiket_sync_agent.home import Home
from etiket_sync_agent.ops.service.plan import Command, PlannedFile, ServicePlan

LABEL_PREFIX = "org.etiket-sync."


def agents_dir() -> Path:
    return Path.home() / "Library" / "LaunchAgents"


def label(name: str) -> str:
    return LABEL_PREFIX + name


def render_plist(name: str, program: list[str], home: Home) -> str:
    data = {
        "Label": label(name),
        "ProgramArguments": program,
        "WorkingDirectory": str(home.data_dir),
        "RunAtLoad": True,
        "KeepAlive": True,
        # at most one restart every 30 s if it keeps failing
        "ThrottleInterval": 30,
        "ProcessType": "Background",
        "EnvironmentVariables": {"PYTHONUNBUFFERED": "1"},
        "StandardOutPath": str(home.log_dir / f"{name}.out.log"),
        "StandardErrorPath": str(home.log_dir / f"{name}.err.log"),
    }
    return plistlib.dumps(data, sort_keys=False).decode("utf-8")


def _uid() -> int:
    getuid = getattr(os, "getuid", None)
    return getuid() if getuid else 501  # only for --print on another platform


def plan(name: str, program: list[str], home: Home) -> ServicePlan:
    path = agents_dir() / f"{label(name)}.plist"
    domain = f"gui/{_uid()}"
    target = f"{domain}/{label(name)}"
    return ServicePlan(
        manager="launchd",
        name=name,
        program=program,
        files=[PlannedFile(path, render_plist(name, program, home))],
        install=[Command(["launchctl", "bootstrap", domain, str(path)])],
        uninstall=[Command(["launchctl", "bootout", target], may_fail=True)],
        # bootstrap fails when it is loaded already; kickstart then starts it
        start=[
            Command(["launchctl", "bootstrap", domain, str(path)], may_fail=True),
            Command(["launchctl", "kickstart", target]),
        ],
        # KeepAlive would restart a killed agent: stopping means unloading
        stop=[Command(["launchctl", "bootout", target])],
        query=Command(["launchctl", "print", target]),
        notes=[
            "The agent starts at login and is restarted whenever it exits.",
            f"Logs: {home.log_file} (output: {home.log_dir / (name + '.out.log')}).",
        ],
    )


def parse_print(text: str) -> dict[str, str]:
    """The ``state`` and ``pid`` lines of ``launchctl print``."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(" = ")
        if sep and key in ("state", "pid", "last exit code", "runs"):
            out[key] = value.strip()
    return out
