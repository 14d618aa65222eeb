"""The core_tools backend passes the same contract checks as every plugin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from etiket_sync_agent.backends.core_tools import CoreToolsBackend
from etiket_sync_agent.testing import BackendContractTests
from tests.backends.core_tools import ct_writer as ctw


class TestCoreToolsContract(BackendContractTests):
    backend_class = CoreToolsBackend
    _databases: list[str]

    @pytest.fixture(autouse=True)
    def _drop_databases(self, postgres: None) -> Iterator[None]:
        self._databases = []
        yield
        for name in self._databases:
            ctw.drop_database(name)

    def sample_config(self, tmp_path: Path) -> dict[str, Any]:
        db = ctw.create_database()
        self._databases.append(db)
        ctw.apply_schema(db)
        w = ctw.Writer(db)
        w.complete("sample", ctw.two_d(3, 2, outputs=2))
        w.close()
        return {
            "dbname": db,
            "user": "postgres",
            "host": "127.0.0.1",
            "auto_scope_per_project": True,
        }

    def check_datasets(self, datasets: list[dict[str, Any]]) -> None:
        super().check_datasets(datasets)
        (ds,) = datasets
        assert ds["name"] == "sample" and ds["scope"] == "CT_PROJECT_qubits"
        assert [f["name"] for f in ds["files"]] == ["measured_data.hdf5"]
