"""Fixtures for the QCoDeS reader tests (the agent's qcodes backend tests share this folder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backends.qcodes.reader_support import build_reference_db


@pytest.fixture(scope="session")
def reference_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """A WAL database written by QCoDeS with one run of every kind: (path, name -> run id)."""
    pytest.importorskip("qcodes")
    path = tmp_path_factory.mktemp("qcodes-reference") / "reference.db"
    return path, build_reference_db(path)
