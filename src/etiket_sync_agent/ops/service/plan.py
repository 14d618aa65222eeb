"""What installing the agent as a service means, as data: files to write, commands to run.

A :class:`ServicePlan` is built without touching anything (``service install --print``
shows it); :mod:`.manager` carries it out.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from etiket_sync_agent.errors import ConfigError
from etiket_sync_agent.home import Home

DEFAULT_NAME = "etiket-sync"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

#: the service managers we can install into, by the platform they run on
MANAGERS = ("systemd", "launchd", "windows-task")


@dataclass(frozen=True)
class PlannedFile:
    path: Path
    content: str
    #: how the file is written (Task Scheduler reads its XML as UTF-16)
    encoding: str = "utf-8"


@dataclass(frozen=True)
class Command:
    argv: list[str]
    #: a failure is expected in some states (e.g. stopping what is not running)
    may_fail: bool = False


@dataclass(frozen=True)
class ServicePlan:
    """Everything one service manager needs for the agent of one home."""

    manager: str
    name: str
    #: what the service runs (absolute interpreter of the installed environment)
    program: list[str]
    files: list[PlannedFile]
    install: list[Command]
    uninstall: list[Command]
    start: list[Command]
    stop: list[Command]
    #: the manager's view of the service (parsed by the manager module)
    query: Command
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "manager": self.manager,
            "name": self.name,
            "program": self.program,
            "files": [{"path": str(f.path), "content": f.content} for f in self.files],
            "install": [c.argv for c in self.install],
            "uninstall": [c.argv for c in self.uninstall],
            "start": [c.argv for c in self.start],
            "stop": [c.argv for c in self.stop],
            "notes": self.notes,
        }


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(
            f"invalid service name {name!r}",
            hint="use letters, digits, '_', '-' and '.', starting with a letter or digit",
        )
    return name


def current_manager() -> str:
    """The service manager of this platform."""
    if sys.platform == "darwin":
        return "launchd"
    if sys.platform.startswith("win"):
        return "windows-task"
    return "systemd"


def interpreter() -> Path:
    """The interpreter of the environment the agent is installed in, absolute.

    Not resolved: a virtual environment's ``bin/python`` is a symlink to the base
    interpreter, and only the link's path runs with the environment's packages.
    """
    exe = Path(sys.executable).absolute()
    if sys.platform.startswith("win"):
        # no console window for a background task
        windowless = exe.with_name("pythonw.exe")
        if windowless.exists():
            return windowless
    return exe


def program(home: Home, home_override: Path | None, metrics: str | None = None) -> list[str]:
    """The command line of the service: ``python -m etiket_sync_agent [--home DIR]
    [--metrics HOST:PORT]``.

    The home is passed only when the user chose one (``--home`` / ``ETIKET_SYNC_HOME``);
    otherwise the service finds the same platform folders the user's commands use.
    ``metrics`` (checked here): the address, or ``off`` for none whatever is saved.
    """
    argv = [str(interpreter()), "-m", "etiket_sync_agent"]
    if home_override is not None:
        argv += ["--home", str(home.data_dir)]
    if metrics is not None:
        from etiket_sync_agent.ops.settings import normalize_metrics

        argv += ["--metrics", normalize_metrics(metrics) or "off"]
    return argv + ["--summary-every", "600"]
