"""Sessions: ``nox -s tests`` (what CI runs) and ``nox -s lint``."""

from __future__ import annotations

import os
import shutil

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = False
nox.options.sessions = ["tests", "lint"]


#: Debian packages some tests drive: tmux (`status --watch` in a real terminal),
#: systemd-analyze (the service unit is verified), Chromium and its WebDriver (the web page
#: in a real browser, tests/web/browser); outside CI the tests skip with a reason without them
DEBIAN_TOOLS = {
    "tmux": "tmux",
    "systemd-analyze": "systemd",
    "chromium": "chromium",
    "chromedriver": "chromium-driver",
}


def _install_debian_tools(session: nox.Session) -> None:
    missing = sorted({pkg for tool, pkg in DEBIAN_TOOLS.items() if shutil.which(tool) is None})
    if not missing:
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        session.warn(f"not installed (tests that need them skip): {', '.join(missing)}")
        return
    session.run("apt-get", "update", "-qq", external=True, success_codes=[0, 100])
    session.run(
        "apt-get",
        "install",
        "-y",
        "-qq",
        *missing,
        external=True,
        success_codes=[0, 100],
        env={"DEBIAN_FRONTEND": "noninteractive"},
    )


@nox.session
def tests(session: nox.Session) -> None:
    """Install the package (a real, non-editable install) with test extras; run pytest."""
    _install_debian_tools(session)
    session.install(".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.5")
    session.run("ruff", "check", "src", "tests", "bench", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "bench", "noxfile.py")
