"""``--home DIR`` is the whole home: defaults computed from the home (the native area)
land under DIR too, not under the platform's user folders."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.conftest import ETIKET_SYNC


def test_home_option_places_the_native_area_under_it(tmp_path: Path) -> None:
    home = tmp_path / "agent-home"
    env = {k: v for k, v in os.environ.items() if k != "ETIKET_SYNC_HOME"}
    env["HOME"] = str(tmp_path / "user")  # platformdirs' folders would land here
    env.pop("ETIKET_SYNC_NATIVE_DIR", None)
    proc = subprocess.run(
        [ETIKET_SYNC, "--home", str(home), "add-source", "native", "scripts", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    native_dir = Path(json.loads(proc.stdout)["config"]["native_directory"])
    assert native_dir.is_relative_to(home.resolve()) or native_dir.is_relative_to(home)
    assert not (tmp_path / "user").exists()
