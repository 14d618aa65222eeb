"""The quantify backend passes the same contract checks as every plugin."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from etiket_sync_agent.backends.quantify import QuantifyBackend
from etiket_sync_agent.testing import BackendContractTests
from tests.backends.quantify.mc_files import (
    fill,
    flat_dataset,
    measurement_folder,
    tuid_at,
    write_mc,
    write_snapshot,
)


class TestQuantifyContract(BackendContractTests):
    backend_class = QuantifyBackend

    def sample_config(self, tmp_path: Path) -> dict[str, Any]:
        datadir = tmp_path / "quantify-data"
        tuid = tuid_at(datetime(2024, 5, 1, 12, 0, 0), 0)
        folder = measurement_folder(datadir, tuid, "sample")
        write_mc(fill(flat_dataset(tuid, "sample", [np.arange(8.0)])), folder / "dataset.hdf5")
        write_snapshot(folder)
        return {"quantify_directory": str(datadir), "set_up": "bench"}

    def check_datasets(self, datasets: list[dict[str, Any]]) -> None:
        super().check_datasets(datasets)
        (ds,) = datasets
        assert ds["name"] == "sample"
        assert {f["name"] for f in ds["files"]} == {"dataset.hdf5", "snapshot.json"}
