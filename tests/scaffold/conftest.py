"""Fixtures of the scaffold tests: a real virtual environment that sees the agent.

The venv is made from the test interpreter with ``--system-site-packages``; because a
venv's own site-packages are not "system" ones for a venv made from it, a ``.pth`` file
also adds the test interpreter's site-packages (with their ``.pth`` files, so an editable
install of the agent works). The agent's console scripts are written into the venv's
``bin`` as pip would. Generated packages are installed into the venv with pip, without
build isolation when hatchling is importable (no network needed).
"""

from __future__ import annotations

import dataclasses
import json
import os
import site
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import distribution
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
_DROP_ENV = ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH", "PYTEST_ADDOPTS", "COOKIECUTTER_CONFIG")


def clean_env(home: Path) -> dict[str, str]:
    """The environment for subprocesses: ``HOME`` is ``home`` (holding a hostile
    ``~/.cookiecutterrc``), ``ETIKET_SYNC_HOME`` is under it."""
    env = {k: v for k, v in os.environ.items() if k not in _DROP_ENV}
    env.update(
        HOME=str(home),
        USERPROFILE=str(home),
        ETIKET_SYNC_HOME=str(home / "agent"),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        COLUMNS="200",
        COOKIECUTTER_CONFIG=str(home / ".cookiecutterrc"),
    )
    return env


def write_hostile_cookiecutterrc(home: Path) -> None:
    """A user config that would change the output (and write replay files) if it were read."""
    home.mkdir(parents=True, exist_ok=True)
    (home / ".cookiecutterrc").write_text(
        "default_context:\n"
        '  version: "6.6.6"\n'
        '  entry_name: "hijacked"\n'
        f"replay_dir: {json.dumps(str(home / 'replay'))}\n"
        f"cookiecutters_dir: {json.dumps(str(home / 'cookiecutters'))}\n",
        encoding="utf-8",
    )


def assert_no_cookiecutter_state(home: Path) -> None:
    for name in ("replay", "cookiecutters", ".cookiecutter_replay", ".cookiecutters"):
        assert not (home / name).exists(), f"cookiecutter wrote {home / name}"


@dataclass
class Venv:
    root: Path
    python: Path
    env: dict[str, str]
    home: Path

    def at_home(self, agent_home: Path) -> Venv:
        """The same venv with ``ETIKET_SYNC_HOME=agent_home``."""
        return dataclasses.replace(self, env={**self.env, "ETIKET_SYNC_HOME": str(agent_home)})

    @property
    def bin(self) -> Path:
        return self.python.parent

    def run(
        self, *args: str | os.PathLike[str], cwd: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """``python ARGS`` in the venv; on failure the output is in the assertion."""
        proc = subprocess.run(
            [str(self.python), *map(str, args)],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{args} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n"
                f"--- stderr\n{proc.stderr}"
            )
        return proc

    def script(
        self, name: str, *args: str | os.PathLike[str], check: bool = True, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the venv's console script ``name`` (through its interpreter: portable)."""
        return self.run(self.bin / name, *args, check=check, cwd=cwd)

    def etiket_sync_json(self, *args: str | os.PathLike[str]) -> Any:
        return json.loads(self.script("etiket-sync", *args, "--json").stdout)

    def pip_install(self, *paths: Path) -> None:
        try:
            import hatchling  # noqa: F401
        except ImportError:
            isolation: list[str] = []  # pip fetches hatchling from the index
        else:
            isolation = ["--no-build-isolation"]
        self.run("-m", "pip", "install", "--no-deps", *isolation, *map(str, paths))


def make_venv(root: Path, home: Path) -> Venv:
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(root)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    python = root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    env = clean_env(home)
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout.strip()
    parents = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (Path(purelib) / "_etiket_test_parent_site.pth").write_text(
        "import site; " + "; ".join(f"site.addsitedir({p!r})" for p in parents) + "\n",
        encoding="utf-8",
    )
    for ep in distribution("etiket_sync_agent").entry_points:
        if ep.group == "console_scripts":
            module, _, attr = ep.value.partition(":")
            (python.parent / ep.name).write_text(
                f"#!{python}\nimport sys\nfrom {module} import {attr}\n"
                f"sys.argv[0] = {ep.name!r}\nsys.exit({attr}())\n",
                encoding="utf-8",
            )
    return Venv(root=root, python=python, env=env, home=home)


@pytest.fixture(scope="session")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """One venv for every test that installs generated packages."""
    base = tmp_path_factory.mktemp("scaffold-venv")
    home = base / "home"
    write_hostile_cookiecutterrc(home)
    v = make_venv(base / "venv", home)
    out = v.run("-c", "import etiket_sync_agent, cookiecutter; print(etiket_sync_agent.__file__)")
    assert out.stdout.strip(), "the venv does not see etiket_sync_agent"
    return v
