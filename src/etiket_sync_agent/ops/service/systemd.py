"""Linux: a systemd *user* unit, ``$XDG_CONFIG_HOME/systemd/user/<name>.service``.

No admin rights: ``systemctl --user`` runs it while the user is logged in; to keep it
running after logout an administrator (or the user, where polkit allows it) runs
``loginctl enable-linger USER`` — we say so and never do it ourselves.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from etiket_sync_agent.home import Home
from etiket_sync_agent.ops.service.plan import Command, PlannedFile, ServicePlan


def unit_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


def quote(arg: str) -> str:
    """One word of ``ExecStart=``: double-quoted, with systemd's specifiers (``%``) and
    variables (``$``) escaped so paths are taken literally."""
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"'


def _value(text: str) -> str:
    # other settings take text verbatim except for specifiers
    return text.replace("%", "%%")


def render_unit(name: str, program: list[str], home: Home) -> str:
    return "\n".join(
        [
            "# Written by `etiket-sync service install`; `service uninstall` removes it.",
            "[Unit]",
            f"Description=etiket-sync agent ({name}): synchronizes lab datasets into the store",
            # a crash loop (e.g. a broken state DB) stops after 5 starts in 10 minutes
            "StartLimitIntervalSec=600",
            "StartLimitBurst=5",
            "",
            "[Service]",
            "Type=simple",
            "ExecStart=" + " ".join(quote(a) for a in program),
            f"WorkingDirectory={_value(str(home.data_dir))}",
            "Environment=PYTHONUNBUFFERED=1",
            "Restart=on-failure",
            "RestartSec=10",
            # the agent finishes the item at hand on SIGTERM
            "KillSignal=SIGTERM",
            "TimeoutStopSec=120",
            # stdout/stderr to the journal; the agent writes its own log file as well
            "StandardOutput=journal",
            "StandardError=journal",
            f"SyslogIdentifier={name}",
            "",
            "[Install]",
            "WantedBy=default.target",
            "",
        ]
    )


def plan(name: str, program: list[str], home: Home) -> ServicePlan:
    unit = f"{name}.service"
    path = unit_dir() / unit
    ctl = ["systemctl", "--user"]
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name: say USER
        user = "$USER"
    return ServicePlan(
        manager="systemd",
        name=name,
        program=program,
        files=[PlannedFile(path, render_unit(name, program, home))],
        install=[Command([*ctl, "daemon-reload"]), Command([*ctl, "enable", "--now", unit])],
        uninstall=[
            Command([*ctl, "disable", "--now", unit], may_fail=True),
            Command([*ctl, "daemon-reload"], may_fail=True),
        ],
        start=[Command([*ctl, "start", unit])],
        stop=[Command([*ctl, "stop", unit])],
        query=Command(
            [
                *ctl,
                "show",
                unit,
                "--property=LoadState,ActiveState,SubState,"
                "UnitFileState,MainPID,NRestarts,ExecMainStatus",
            ]
        ),  # fmt: skip
        notes=[
            "A user service runs while you are logged in. To keep it running after you "
            f"log out, run once: loginctl enable-linger {user}  (it may need an "
            "administrator; etiket-sync does not do it for you).",
            f"Logs: journalctl --user -u {unit}  (and the agent's log file: {home.log_file}).",
        ],
    )


def parse_show(text: str) -> dict[str, str]:
    """``systemctl show`` output (``Key=value`` lines) as a dict."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def journal_command(name: str, lines: int, follow: bool) -> list[str]:
    argv = ["journalctl", "--user", "-u", f"{name}.service", "-n", str(lines), "--no-pager"]
    return argv + (["-f"] if follow else [])
