"""Carry out a service plan: install, uninstall, start, stop, status, logs.

What ``install`` wrote (files, and folders it had to create) is recorded in the home
(``service.json``); ``uninstall`` removes exactly that, and the record itself.
A failing manager command during ``install`` undoes what was written (nothing changes
on an error); ``--no-start`` only writes the files, for machines where the manager is
not running now (e.g. an SSH session without a user systemd).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from etiket_sync_agent.errors import ConfigError, EtiketSyncError, NotFoundError
from etiket_sync_agent.ops.service import launchd, systemd, windows_task
from etiket_sync_agent.ops.service.plan import (
    DEFAULT_NAME,
    MANAGERS,
    Command,
    ServicePlan,
    check_name,
    current_manager,
    program,
)
from etiket_sync_agent.runtime import Runtime

RECORD = "service.json"
_TIMEOUT_S = 60


class ServiceError(EtiketSyncError):
    """The service manager refused or could not be reached."""


def build_plan(
    rt: Runtime,
    *,
    name: str = DEFAULT_NAME,
    manager: str | None = None,
    home_override: Path | None = None,
    metrics: str | None = None,
) -> ServicePlan:
    """What installing the agent of ``rt``'s home as a service would write and run.

    ``metrics``: an address for ``--metrics`` in the service's command line (``off``:
    none, even if the home's setting names one)."""
    manager = manager or current_manager()
    if manager not in MANAGERS:
        raise ConfigError(f"unknown service manager {manager!r}", hint=", ".join(MANAGERS))
    check_name(name)
    argv = program(rt.home, home_override, metrics)
    module = {"systemd": systemd, "launchd": launchd, "windows-task": windows_task}[manager]
    return module.plan(name, argv, rt.home)


def system_notes(manager: str | None = None) -> str:
    """How to run the agent as a system service (we document it, never do it)."""
    return windows_task.SYSTEM_NOTES[manager or current_manager()]


# -- the record of what install wrote ----------------------------------------------------


def _record_path(rt: Runtime) -> Path:
    return rt.home.data_dir / RECORD


def read_record(rt: Runtime) -> dict[str, Any] | None:
    try:
        return json.loads(_record_path(rt).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ServiceError(
            f"cannot read {_record_path(rt)}: {exc}",
            hint="remove the service files by hand (`service install --print` lists them)",
        ) from None


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _make_dirs(path: Path) -> list[Path]:
    """Create ``path``'s missing folders; returns those created, deepest first."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    path.mkdir(parents=True, exist_ok=True)
    return missing


def _remove(files: list[str], dirs: list[str]) -> list[str]:
    removed = []
    for f in files:
        try:
            Path(f).unlink()
            removed.append(f)
        except FileNotFoundError:
            pass
    for d in dirs:  # deepest first; only if we left them empty
        try:
            Path(d).rmdir()
            removed.append(d)
        except OSError:
            pass
    return removed


# -- running the manager ------------------------------------------------------------------


def run_command(cmd: Command) -> subprocess.CompletedProcess[str]:
    """Run one manager command; ServiceError (one line) if it cannot run or fails."""
    try:
        proc = subprocess.run(
            cmd.argv, capture_output=True, text=True, timeout=_TIMEOUT_S, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError:
        raise ServiceError(
            f"{cmd.argv[0]} not found: this machine has no such service manager",
            hint="`etiket-sync service install --print` shows what to set up by hand",
        ) from None
    except subprocess.TimeoutExpired:
        raise ServiceError(f"`{' '.join(cmd.argv)}` did not answer in {_TIMEOUT_S} s") from None
    if proc.returncode != 0 and not cmd.may_fail:
        why = " ".join((proc.stderr or proc.stdout).split())[:300] or f"exit {proc.returncode}"
        raise ServiceError(
            f"`{' '.join(cmd.argv)}` failed: {why}",
            hint="is the service manager running for your user? `--no-start` only writes the files",
        )
    return proc


def _run_all(cmds: list[Command]) -> list[dict[str, Any]]:
    done = []
    for cmd in cmds:
        proc = run_command(cmd)
        done.append({"command": cmd.argv, "exit_code": proc.returncode})
    return done


# -- the commands ---------------------------------------------------------------------


def install(rt: Runtime, plan: ServicePlan, *, start: bool = True) -> dict[str, Any]:
    """Write the plan's files and (``start``) register and start the service.

    Files already there that an earlier install did not write are never overwritten.
    On a failing manager command, everything written is removed again.
    """
    record = read_record(rt)
    ours = set(record["files"]) if record else set()
    for f in plan.files:
        if f.path.exists() and str(f.path) not in ours:
            raise ServiceError(
                f"{f.path} exists and was not written by etiket-sync",
                hint="move it away, or choose another --name",
            )
    created_dirs: list[str] = list(record["dirs"]) if record else []
    written: list[str] = []
    try:
        for f in plan.files:
            created_dirs = [str(d) for d in _make_dirs(f.path.parent)] + created_dirs
            _write_atomic(f.path, f.content.encode(f.encoding))
            written.append(str(f.path))
        new_record = {
            "manager": plan.manager,
            "name": plan.name,
            "files": written,
            "dirs": created_dirs,
            "program": plan.program,
        }
        _write_atomic(_record_path(rt), json.dumps(new_record, indent=2).encode())
        ran = _run_all(plan.install) if start else []
    except BaseException:
        _remove(written, created_dirs)
        _record_path(rt).unlink(missing_ok=True)
        raise
    return {**plan.as_json(), "written": written, "ran": ran, "started": start}


def uninstall(rt: Runtime, plan: ServicePlan) -> dict[str, Any]:
    """Stop and unregister the service, then remove exactly what ``install`` wrote."""
    record = read_record(rt)
    if record is None:
        raise NotFoundError(
            "the agent of this home is not installed as a service",
            hint="`etiket-sync service install` installs it",
        )
    ran = []
    for cmd in plan.uninstall:  # may_fail: stopping what is not running is fine
        try:
            proc = run_command(cmd)
            ran.append({"command": cmd.argv, "exit_code": proc.returncode})
        except ServiceError as exc:  # no manager here: the files still go
            ran.append({"command": cmd.argv, "error": exc.message})
    removed = _remove(record["files"], record["dirs"])
    _record_path(rt).unlink(missing_ok=True)
    return {"manager": record["manager"], "name": record["name"], "removed": removed, "ran": ran}


def _installed(rt: Runtime) -> dict[str, Any]:
    record = read_record(rt)
    if record is None:
        raise NotFoundError(
            "the agent of this home is not installed as a service",
            hint="`etiket-sync service install` installs it",
        )
    return record


def start(rt: Runtime, plan: ServicePlan) -> dict[str, Any]:
    _installed(rt)
    return {"name": plan.name, "ran": _run_all(plan.start)}


def stop(rt: Runtime, plan: ServicePlan) -> dict[str, Any]:
    _installed(rt)
    return {"name": plan.name, "ran": _run_all(plan.stop)}


def manager_view(plan: ServicePlan) -> dict[str, Any]:
    """What the service manager says about the service: ``active`` True/False, or
    ``None`` with ``error`` when it cannot be asked."""
    try:
        proc = run_command(Command(plan.query.argv, may_fail=True))
    except ServiceError as exc:
        return {"active": None, "error": exc.message}
    if plan.manager == "systemd":
        fields = systemd.parse_show(proc.stdout)
        if proc.returncode != 0 or not fields:
            return {"active": None, "error": " ".join(proc.stderr.split())[:300]}
        return {"active": fields.get("ActiveState") == "active", **fields}
    if plan.manager == "launchd":
        if proc.returncode != 0:
            return {"active": False, "loaded": False}
        fields = launchd.parse_print(proc.stdout)
        return {"active": fields.get("state") == "running", "loaded": True, **fields}
    if proc.returncode != 0:
        return {"active": False, "registered": False}
    fields = windows_task.parse_query(proc.stdout)
    return {"active": fields.get("Status") == "Running", "registered": True, **fields}


def service_status(rt: Runtime, plan: ServicePlan) -> dict[str, Any]:
    """The service manager's view combined with the agent's own heartbeat.

    ``summary`` is ``running`` only when the manager says so AND the loop's heartbeat is
    fresh; ``not installed``, ``stopped``, ``not responding`` (the manager runs it, the
    loop reports nothing) and ``running outside the service`` otherwise.
    """
    from etiket_sync_agent.services.status import loop_state

    record = read_record(rt)
    installed = record is not None and all(Path(f).exists() for f in record["files"])
    view = manager_view(plan) if installed else {"active": None}
    loop = loop_state(rt)
    beating = loop["state"] == "running"
    if not installed:
        summary = "running outside the service" if beating else "not installed"
    elif view.get("active") and beating:
        summary = "running"
    elif view.get("active"):
        summary = f"not responding (the service runs; the agent is {loop['state_text']})"
    elif beating:
        summary = "running outside the service"
    elif view.get("active") is None:
        summary = "unknown (the service manager cannot be asked)"
    else:
        summary = "stopped"
    return {
        "manager": plan.manager,
        "name": plan.name,
        "installed": installed,
        "files": record["files"] if record else [],
        "service": view,
        "agent": loop,
        "summary": summary,
    }


def log_tail(rt: Runtime, lines: int = 50) -> list[str]:
    """The last ``lines`` lines of the agent's log file."""
    path = rt.home.log_file
    if not path.exists():
        return []
    from collections import deque

    with open(path, encoding="utf-8", errors="replace") as f:
        return [line.rstrip("\n") for line in deque(f, maxlen=lines)]


def follow_log(rt: Runtime, poll_s: float = 0.5) -> Iterator[str]:
    """New lines of the log file as they are written (until the caller stops)."""
    import time

    path = rt.home.log_file
    pos = path.stat().st_size if path.exists() else 0
    while True:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size < pos:  # rotated
            pos = 0
        if size > pos:
            with open(path, encoding="utf-8", errors="replace") as f:
                f.seek(pos)
                chunk = f.read()
                pos = f.tell()
            yield from chunk.splitlines()
        else:
            time.sleep(poll_s)


def journal(plan: ServicePlan, lines: int, follow: bool) -> int:
    """Show the systemd journal of the service on this terminal; its exit code."""
    if plan.manager != "systemd":
        raise ConfigError("--journal is for systemd services", hint="drop --journal")
    argv = systemd.journal_command(plan.name, lines, follow)
    if shutil.which(argv[0]) is None:
        raise ServiceError("journalctl not found", hint="drop --journal to read the log file")
    return subprocess.call(argv)


def installed_plan(rt: Runtime, *, home_override: Path | None = None) -> ServicePlan:
    """The plan of the installed service (its recorded name and manager), else the
    default one."""
    record = read_record(rt)
    if record is None:
        return build_plan(rt, home_override=home_override)
    return build_plan(
        rt, name=record["name"], manager=record["manager"], home_override=home_override
    )
